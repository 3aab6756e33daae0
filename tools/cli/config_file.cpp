#include "cli/config_file.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "runtime/error.h"

namespace tweedie::cli {
namespace {

std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// A comment starts at a '#' outside quotes that begins the value or follows whitespace.
std::string without_comment(const std::string& line) {
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return line.substr(0, i);
    }
  }
  return line;
}

std::string unquote(const std::string& v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) return v.substr(1, v.size() - 2);
  return v;
}

std::map<std::string, std::string> from_json(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ArgumentError(cat(path, ": not valid JSON (", e.what(), ")"));
  }
  if (!j.is_object()) throw ArgumentError(cat(path, ": expected a JSON object of model settings"));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : j.items()) {
    if (value.is_object()) throw ArgumentError(cat(path, ": '", key, "' is a nested object; only flat settings are read"));
    if (value.is_string()) out[key] = value.get<std::string>();
    else if (value.is_array()) {
      std::string list;
      for (const auto& item : value) {
        if (!list.empty()) list += ',';
        list += item.dump();
      }
      out[key] = list;
    } else out[key] = value.dump();
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ArgumentError(cat("--config: cannot open ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (trim(text).rfind('{', 0) == 0) return from_json(text, path);

  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    std::string content = trim(without_comment(line));
    if (content.empty() || content == "---") continue;
    auto fail = [&](const std::string& why) { throw ArgumentError(cat(path, ":", number, ": ", why, ": ", trim(line))); };
    if (line[0] == ' ' || line[0] == '\t') fail("nested YAML is not supported (only flat 'key: value' lines)");
    std::size_t colon = content.find(':');
    if (colon == std::string::npos) fail("expected 'key: value'");
    std::string key = trim(content.substr(0, colon)), value = trim(content.substr(colon + 1));
    if (key.empty()) fail("empty key");
    if (value.empty()) fail("a key without a value (nested mappings and block lists are not supported)");
    if (value.front() == '[') {
      if (value.back() != ']') fail("unterminated list");
      value = value.substr(1, value.size() - 2);
    }
    if (out.count(key)) fail(cat("'", key, "' appears twice"));
    out[key] = unquote(value);
  }
  return out;
}

}  // namespace tweedie::cli

#include "bench/compare_table.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/error.h"

namespace tweedie::bench {
namespace {

using Key = std::tuple<std::string, std::string, std::string, int>;  // op, case, device, threads

struct Rounds {
  std::vector<double> ms, peak_bytes;
};

Key key_of(const nlohmann::json& j) {
  std::string device = j.value("device", "cpu");
  if (device == "cuda") device = "cuda:0";
  std::string c;
  if (j.contains("shape")) c = j["shape"].dump();
  else c = cat(j.value("model", std::string()), " b", j.value("batch", 0), " ", j.value("size", 0), "px k", j.value("tangents", 1));
  return {j.at("op").get<std::string>(), c, device, j.value("threads", 0)};
}

// The benchmark lines of `text` (lines that start with '{'), by key; `what` names the source in errors.
std::map<Key, Rounds> parse(std::istream& in, const std::string& what) {
  std::map<Key, Rounds> rows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] != '{') continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
      if (!j.contains("op") || !j.contains("median_ms")) continue;  // not a timing line
      Rounds& r = rows[key_of(j)];
      r.ms.push_back(j.at("median_ms").get<double>());
      if (j.contains("peak_bytes")) r.peak_bytes.push_back(j.at("peak_bytes").get<double>());
    } catch (const nlohmann::json::exception& e) {
      throw IoError(cat(what, ", line ", number, ": not a benchmark JSON line (", e.what(), ")"));
    }
  }
  return rows;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

void print_comparison(const std::string& ours, const std::string& other_path, std::ostream& out) {
  std::istringstream our_lines(ours);
  const std::map<Key, Rounds> a = parse(our_lines, "this run");
  std::ifstream file(other_path);
  if (!file) throw IoError(cat("--compare ", other_path, ": cannot open for reading"));
  const std::map<Key, Rounds> b = parse(file, "--compare " + other_path);

  std::vector<std::string> rows;
  bool memory = false;
  for (const auto& [key, mine] : a) {
    auto theirs = b.find(key);
    if (theirs == b.end()) continue;
    memory = memory || (!mine.peak_bytes.empty() && !theirs->second.peak_bytes.empty());
  }
  for (const auto& [key, mine] : a) {
    auto found = b.find(key);
    if (found == b.end()) continue;
    const Rounds& theirs = found->second;
    const auto& [op, c, device, threads] = key;
    const double ma = median(mine.ms), mb = median(theirs.ms);
    std::string row = cat("| ", op, " | ", c, " | ", device, " | ", threads, " | ", std::min(mine.ms.size(), theirs.ms.size()), " | ",
                          fixed(ma, 3), " | ", fixed(mb, 3), " | ", fixed(mb / ma, 2), " |");
    if (memory) {
      auto mib = [](const std::vector<double>& v) { return v.empty() ? std::string("-") : fixed(median(v) / 1048576.0, 1); };
      row += cat(" ", mib(mine.peak_bytes), " | ", mib(theirs.peak_bytes), " |");
    }
    rows.push_back(row);
  }
  if (rows.empty())
    throw ArgumentError(cat("--compare ", other_path, ": none of its ", b.size(), " cases matches one of this run's ", a.size(),
                            " (they are joined on op, case, device and threads; was it run with the same model, batch, size and threads?)"));
  out << "| op | case | device | threads | rounds | tweedie ms | other ms | other / tweedie |" << (memory ? " tweedie MiB | other MiB |" : "")
      << "\n| --- | --- | --- | --- | --- | --- | --- | --- |" << (memory ? " --- | --- |" : "") << "\n";
  for (const std::string& r : rows) out << r << "\n";
}

}  // namespace tweedie::bench

#include "cli/arguments.h"

#include <filesystem>
#include <sstream>

#include "runtime/error.h"

namespace tweedie::cli {
namespace {

template <class T>
std::vector<T> parse_list(const std::string& flag, const std::string& text, const char* kind) {
  std::vector<T> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    try {
      std::size_t used = 0;
      T v = std::is_integral_v<T> ? T(std::stoll(item, &used)) : T(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw ArgumentError(cat(flag, ": '", item, "' is not ", kind));
    }
  }
  if (out.empty()) throw ArgumentError(cat(flag, ": no value given"));
  return out;
}

}  // namespace

std::vector<float> parse_floats(const std::string& flag, const std::string& text) {
  return parse_list<float>(flag, text, "a number");
}

std::vector<std::int64_t> parse_integers(const std::string& flag, const std::string& text) {
  return parse_list<std::int64_t>(flag, text, "a whole number");
}

DatasetRef parse_dataset_ref(const std::string& flag, const std::string& text, const std::string& preferred) {
  // FILE:DATASET, unless the whole text names an existing file (file names may contain ':').
  if (text.empty()) throw ArgumentError(cat(flag, ": expected FILE or FILE:DATASET"));
  std::size_t colon = text.rfind(':');
  std::error_code ec;
  if (colon == std::string::npos || std::filesystem::exists(text, ec)) return {text, preferred, false};
  if (colon == 0 || colon + 1 == text.size()) throw ArgumentError(cat(flag, ": '", text, "' is not FILE or FILE:DATASET"));
  return {text.substr(0, colon), text.substr(colon + 1), true};
}

Tensor read_dataset(const std::string& flag, const DatasetRef& ref, Device device, bool keep_complex) {
  H5File f = H5File::open(ref.file);
  std::string name = ref.dataset;
  if (!f.has(name) && ref.named) throw IoError(cat(flag, ": ", ref.file, " has no dataset '", name, "'"));
  if (!f.has(name)) {
    std::vector<std::string> all = f.datasets();
    if (all.size() != 1) {
      std::string names;
      for (const std::string& d : all) names += (names.empty() ? "" : ", ") + d;
      throw IoError(cat(flag, ": ", ref.file, " has no dataset '", name, "'; name one as FILE:DATASET (it has: ",
                        names.empty() ? "none" : names, ")"));
    }
    name = all[0];
  }
  return keep_complex ? f.read(name, device) : f.read(name, DType::f32, device);
}

Shape parse_shape(const std::string& flag, const std::string& text) {
  std::vector<std::int64_t> dims = parse_integers(flag, text);
  for (std::int64_t d : dims)
    if (d < 1) throw ArgumentError(cat(flag, ": '", text, "' has extent ", d, "; every extent must be at least 1"));
  if (dims.size() > std::size_t(kMaxRank)) throw ArgumentError(cat(flag, ": '", text, "' has more than ", kMaxRank, " extents"));
  return Shape(std::span<const std::int64_t>(dims));
}

}  // namespace tweedie::cli

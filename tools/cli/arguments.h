#pragma once
// Parsing the values of command-line flags. Errors are ArgumentErrors that name the flag.
#include <cstdint>
#include <string>
#include <vector>

#include "io/hdf5_file.h"

namespace tweedie::cli {

// "1.5" or "10,20,30".
std::vector<float> parse_floats(const std::string& flag, const std::string& text);
std::vector<std::int64_t> parse_integers(const std::string& flag, const std::string& text);

// A dataset named on the command line as FILE or FILE:DATASET. Without a dataset name, the file's
// dataset called `preferred` is used, or its only dataset.
struct DatasetRef {
  std::string file, dataset;
  bool named = false;  // DATASET was given: it must exist, no fallback to the only dataset
};
DatasetRef parse_dataset_ref(const std::string& flag, const std::string& text, const std::string& preferred);
// f32; with keep_complex, complex datasets stay c64.
Tensor read_dataset(const std::string& flag, const DatasetRef& ref, Device device, bool keep_complex = false);

// "C,H,W" for flag, as a Shape (every extent positive).
Shape parse_shape(const std::string& flag, const std::string& text);

}  // namespace tweedie::cli

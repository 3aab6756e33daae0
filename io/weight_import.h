#pragma once
// Turning a foreign checkpoint (PyTorch, safetensors, NumPy) into a tweedie model file: pick the state
// dict, map its names onto the architecture's parameter names, check every name and shape against the
// network the config builds, and write the model file (io/FORMAT.md).
//
// Name mapping is data: one ImportTable per architecture, listing the wrapper prefixes training code
// adds (DataParallel's "module.", torch.compile's "_orig_mod.") and prefix renames. Supporting a new
// architecture means a table here and a builder in nn/registry.
#include <cstdint>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/hdf5_file.h"

namespace tweedie {

struct PrefixRename {
  std::string from, to;
};

struct ImportTable {
  std::string architecture;                  // tweedie's name: "adm-unet", "mlp"
  std::vector<std::string> wrapper_prefixes;  // removed when every name carries it
  std::vector<PrefixRename> renames;          // first match wins; names without a match stay as they are
};

const ImportTable& import_table(const std::string& architecture);  // ArgumentError listing the known ones

enum class ImportPrecision { keep, f32, f16, bf16 };
enum class NanPolicy { error, warn };

struct ImportOptions {
  std::string architecture, config_json;
  std::string key;            // the nested dict to take ("ema", "model/ema"); empty: the only one there is
  ImportPrecision precision = ImportPrecision::keep;
  NanPolicy nan = NanPolicy::error;
  std::string diffusion_json;  // recorded as the root attribute `diffusion` when not empty
};

struct ImportReport {
  std::string chosen_key;     // the nested dict used ("" for a flat state dict)
  std::string stripped_prefix;
  std::int64_t tensors = 0, parameters = 0, non_finite = 0;
  StoredAs stored = StoredAs::f32;
  std::vector<std::string> warnings;  // for the caller to print
};

// Reads `input` (any format io/checkpoint_readers.h knows) and writes `output` atomically: on any
// error nothing appears at `output`.
ImportReport import_checkpoint(const std::string& input, const std::string& output, const ImportOptions& options);

// The state dict under `key` of a (flattened) checkpoint, with the key's prefix removed; `key` empty
// picks the flat top level, or the single nested dict when there is exactly one. IoError listing the
// candidates otherwise.
TensorDict select_state_dict(const TensorDict& all, const std::string& key, const std::string& where, std::string* chosen);

}  // namespace tweedie

// `tweedie convert`: a PyTorch / safetensors / NumPy checkpoint to a tweedie model file, no Python
// needed. The model config comes from guided-diffusion-style flags and/or the config file users
// already have; the diffusion the model was trained with is recorded so that samplers need no flags.
#include <nlohmann/json.hpp>

#include <cmath>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "io/weight_import.h"
#include "runtime/error.h"

namespace tweedie::cli {
namespace {

struct ConvertFlags {
  std::string input, output, key, dtype = "keep", nan = "error";
  ModelFlags model;
};

const char* stored_name(StoredAs s) { return s == StoredAs::f16 ? "f16" : s == StoredAs::bf16 ? "bf16" : "f32"; }

void run_convert(ConvertFlags& f) {
  ImportOptions o;
  bool learned_variance = false;
  o.config_json = f.model.model_config(&o.architecture, &learned_variance);
  o.diffusion_json = f.model.diffusion_json(o.architecture, learned_variance);
  o.key = f.key;
  if (f.dtype == "keep") o.precision = ImportPrecision::keep;
  else if (f.dtype == "f32") o.precision = ImportPrecision::f32;
  else if (f.dtype == "f16") o.precision = ImportPrecision::f16;
  else if (f.dtype == "bf16") o.precision = ImportPrecision::bf16;
  else throw ArgumentError(cat("--dtype: '", f.dtype, "' is not keep, f32, f16 or bf16"));
  if (f.nan == "error") o.nan = NanPolicy::error;
  else if (f.nan == "warn") o.nan = NanPolicy::warn;
  else throw ArgumentError(cat("--nan: '", f.nan, "' is not error or warn"));

  ImportReport r = import_checkpoint(f.input, f.output, o);
  for (const std::string& w : r.warnings) std::cerr << "tweedie convert: warning: " << w << "\n";
  std::cout << "converted " << r.tensors << " tensors (" << r.parameters << " parameters) from " << f.input;
  if (!r.chosen_key.empty()) std::cout << " [" << r.chosen_key << "]";
  if (!r.stripped_prefix.empty()) std::cout << ", prefix '" << r.stripped_prefix << "' removed";
  std::cout << "\n  to " << f.output << ": " << o.architecture << ", stored " << stored_name(r.stored) << "\n";
  if (!o.diffusion_json.empty()) std::cout << "  diffusion " << o.diffusion_json << "\n";
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto f = std::make_shared<ConvertFlags>();
  auto* cmd = app.add_subcommand("convert", "Convert a PyTorch (.pt/.pth), safetensors or NumPy (.npz) checkpoint to a tweedie model file");
  cmd->add_option("input", f->input, "Checkpoint file (format detected from its contents)")->required();
  cmd->add_option("-o,--output", f->output, "Output model file (HDF5)")->required();
  cmd->add_option("--key", f->key, "Nested dict to convert, e.g. ema or model (levels joined by /)");
  cmd->add_option("--dtype", f->dtype, "Stored precision: keep (16-bit stays 16-bit, else f32), f32, f16, bf16")->capture_default_str();
  cmd->add_option("--nan", f->nan, "NaN or infinite weights: error, or warn and convert")->capture_default_str();
  f->model.add_to(cmd);
  cmd->callback([f, cmd] {
    f->model.keep_given(cmd);
    run_convert(*f);
  });
}

}  // namespace tweedie::cli

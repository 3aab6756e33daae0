// `tweedie info`: what this build is and what the machine offers. With no GPU or no driver it says so
// and names the CPU as the device that will be used. `tweedie info MODEL.h5` summarises a model file,
// `tweedie info Y.h5` checks an observation file (its specs build and y fits them) and describes it,
// `tweedie info STATE.h5` describes a training state (step, data, settings).
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/commands.h"
#include "cli/openmp_wait.h"
#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "io/observation_file.h"
#include "io/training_state.h"
#include "kernels/library_info.h"
#include "nn/conv.h"
#include "runtime/error.h"
#include "runtime/system_info.h"

namespace tweedie::cli {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : " ") + s;
  return out.empty() ? "-" : out;
}

nlohmann::json as_json(const HostInfo& host, const CudaInfo& gpu) {
  nlohmann::json j;
  j["version"] = TWEEDIE_VERSION;
  j["build_type"] = TWEEDIE_BUILD_TYPE;
  j["compiler"] = host.compiler;
  j["cpu"] = {{"model", host.cpu_model},      {"hardware_threads", host.hardware_threads},
              {"openmp_threads", host.openmp_threads}, {"features", host.cpu_features},
              {"compiled_for", host.compiled_for}};
  j["openmp_wait"] = openmp_wait_description();
  j["libraries"] = {{"blas", blas_info()}, {"fftw", fftw_info()}, {"hdf5", hdf5_version()},
                     {"conv", {{"onednn", nn::onednn_info()}, {"host_route", nn::host_conv_name(nn::default_host_conv())}}}};
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : gpu.devices)
    devices.push_back({{"index", d.index}, {"name", d.name}, {"compute_capability", cat(d.compute_major, ".", d.compute_minor)},
                       {"memory_bytes", d.memory_bytes}, {"multiprocessors", d.multiprocessors}});
  j["cuda"] = {{"compiled", gpu.compiled},
               {"toolkit", cuda_version_string(gpu.toolkit_version)},
               {"runtime", cuda_version_string(gpu.runtime_version)},
               {"driver", cuda_version_string(gpu.driver_version)},
               {"cublas", gpu.cublas_version},
               {"cudnn", gpu.cudnn_version},
               {"cufft", gpu.cufft_version},
               {"devices", devices},
               {"why_no_device", gpu.why_no_device}};
  j["default_device"] = gpu.devices.empty() ? "cpu" : "cuda:0";
  return j;
}

void print_text(const HostInfo& host, const CudaInfo& gpu) {
  std::cout << "tweedie " << TWEEDIE_VERSION << " (" << TWEEDIE_BUILD_TYPE << " build, " << host.compiler
            << ", CUDA backend " << (gpu.compiled ? "on" : "off") << ")\n";
  std::cout << "cpu       " << (host.cpu_model.empty() ? "unknown model" : host.cpu_model) << ", "
            << host.hardware_threads << " hardware threads, " << host.openmp_threads << " OpenMP threads\n";
  std::cout << "          features: " << join(host.cpu_features) << "; compiled for: " << join(host.compiled_for) << "\n";
  std::cout << "blas      " << blas_info() << "\n";
  std::cout << "fft       " << fftw_info() << "\n";
  std::cout << "hdf5      " << hdf5_version() << "\n";
  std::cout << "openmp    " << openmp_wait_description() << "\n";
  std::cout << "conv      host route " << nn::host_conv_name(nn::default_host_conv()) << "; " << nn::onednn_info() << "\n";
  if (gpu.compiled) {
    std::cout << "cuda      toolkit " << cuda_version_string(gpu.toolkit_version) << ", runtime "
              << cuda_version_string(gpu.runtime_version) << ", driver " << cuda_version_string(gpu.driver_version)
              << ", cuBLAS " << gpu.cublas_version << ", cuDNN " << gpu.cudnn_version << ", cuFFT " << gpu.cufft_version
              << "\n";
  }
  for (const auto& d : gpu.devices)
    std::cout << "device    cuda:" << d.index << "  " << d.name << ", compute " << d.compute_major << "."
              << d.compute_minor << ", " << d.memory_bytes / (1 << 20) << " MiB, " << d.multiprocessors
              << " multiprocessors\n";
  if (gpu.devices.empty())
    std::cout << "device    cpu (no CUDA device: " << gpu.why_no_device << "; running on the CPU)\n";
}

nlohmann::json as_json(const ModelSummary& s) {
  nlohmann::json j = {{"architecture", s.info.architecture}, {"format_version", s.info.version},
                      {"config", nlohmann::json::parse(s.info.config)}, {"tensors", s.tensors},
                      {"parameters", s.parameters}, {"stored", s.stored}, {"file_bytes", s.file_bytes},
                      {"sha256", s.sha256}};
  j["diffusion"] = s.info.diffusion.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(s.info.diffusion);
  return j;
}

void print_model(const std::string& path, const ModelSummary& s) {
  std::cout << path << "\n";
  std::cout << "architecture  " << s.info.architecture << " (model file version " << s.info.version << ")\n";
  std::cout << "config        " << s.info.config << "\n";
  std::cout << "parameters    " << s.parameters << " in " << s.tensors << " tensors, stored " << s.stored << ", file "
            << s.file_bytes << " bytes\n";
  std::cout << "diffusion     " << (s.info.diffusion.empty() ? "not recorded (tweedie convert --param/--schedule records it)" : s.info.diffusion) << "\n";
  std::cout << "sha256        " << s.sha256 << " (of the weights' values)\n";
}

bool is_observation(const std::string& path) {
  H5File f = H5File::open(path);
  return f.has_attribute("", "tweedie") && f.string_attribute("", "tweedie") == "observation";
}

// An observation file, checked as a solver would check it (specs build, y fits them).
nlohmann::json observation_json(const Observation& o) {
  double measured = o.op.op->observed().defined() ? 0 : 1;
  if (o.op.op->observed().defined())
    for (float v : o.op.op->observed().to_vector<float>()) measured += v != 0 ? 1.0 / double(o.op.op->observed().numel()) : 0;
  return {{"file", o.path},
          {"items", o.y.dim(0)},
          {"x", o.x.str()},
          {"y", o.op.op->output().str()},
          {"operator", o.op.op->describe()},
          {"linear", o.op.op->is_linear()},
          {"noise", o.noise.noise ? o.noise.noise->describe() : "none"},
          {"measured_fraction", measured},
          {"valid", true}};
}

bool is_training_state(const std::string& path) {
  H5File f = H5File::open(path);
  return f.has_attribute("", "format") && f.string_attribute("", "format") == kTrainingStateFormat;
}

nlohmann::json training_state_json(const std::string& path) {
  TrainingStateInfo s = read_training_state_info(path);
  return {{"file", path},
          {"architecture", s.architecture},
          {"step", s.step},
          {"total_steps", s.total_steps},
          {"data", {{"file", s.data.file}, {"dataset", s.data.dataset}, {"labels", s.data.labels}, {"items", s.data.items},
                    {"item_shape", s.data.item_shape}, {"sha256", s.data.sha256}}},
          {"run", nlohmann::json::parse(train_options_json(s.options))},
          {"diffusion", nlohmann::json::parse(s.diffusion)},
          {"config", nlohmann::json::parse(s.config)}};
}

// Key, padding, value: the text form of the file summaries.
void print_fields(const nlohmann::json& j) {
  for (auto it = j.begin(); it != j.end(); ++it)
    std::cout << it.key() << std::string(18 - std::min<std::size_t>(17, it.key().size()), ' ') << (it->is_string() ? it->get<std::string>() : it->dump()) << "\n";
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe this build, its libraries, the CPU and any CUDA devices");
  auto json = std::make_shared<bool>(false);
  auto model = std::make_shared<std::string>();
  cmd->add_flag("--json", *json, "Print one JSON object instead of text");
  cmd->add_option("model", *model,
                  "A model file to summarise instead (architecture, config, parameters, checksum), an observation file to check, "
                  "or a training state to describe");
  cmd->callback([json, model] {
    const bool observation = !model->empty() && is_observation(*model);
    if (observation || (!model->empty() && is_training_state(*model))) {
      nlohmann::json j = observation ? observation_json(load_observation(*model, Device::cpu())) : training_state_json(*model);
      if (*json) std::cout << j.dump() << "\n";
      else print_fields(j);
      return;
    }
    if (!model->empty()) {
      ModelSummary s = summarize_model(*model);
      if (*json) std::cout << as_json(s).dump() << "\n";
      else print_model(*model, s);
      return;
    }
    HostInfo host = host_info();
    CudaInfo gpu = cuda_info();
    if (*json) std::cout << as_json(host, gpu).dump() << "\n";
    else print_text(host, gpu);
  });
}

}  // namespace tweedie::cli

#include "io/model_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "io/sha256.h"
#include "nn/registry.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

constexpr const char* kParameters = "parameters/";

std::string list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 20; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 20) out += cat(", ... (", names.size() - 20, " more)");
  return out;
}

}  // namespace

ModelFileInfo read_model_info(const H5File& file) {
  const std::string& path = file.path();
  if (!file.has_attribute("", "format") || file.string_attribute("", "format") != kModelFormat)
    throw IoError(cat(path, ": not a tweedie model file (no root attribute format = \"", kModelFormat, "\")"));
  ModelFileInfo info;
  info.version = std::int64_t(file.number_attribute("", "format_version"));
  if (info.version < 1 || info.version > kModelFormatVersion)
    throw IoError(cat(path, ": model file format version ", info.version, "; this tweedie reads up to version ", kModelFormatVersion));
  if (!file.has_attribute("", "architecture")) throw IoError(cat(path, ": missing root attribute 'architecture'"));
  if (!file.has_attribute("", "config")) throw IoError(cat(path, ": missing root attribute 'config'"));
  info.architecture = file.string_attribute("", "architecture");
  info.config = file.string_attribute("", "config");
  if (file.has_attribute("", "diffusion")) info.diffusion = file.string_attribute("", "diffusion");
  if (file.has_attribute("", "inference")) info.inference = file.string_attribute("", "inference");
  return info;
}

void require_parameter_names(nn::Network& network, const std::vector<std::string>& available, const std::string& where) {
  std::set<std::string> given(available.begin(), available.end());
  std::vector<std::string> missing, unexpected;
  for (nn::Parameter* p : network.parameters().all())
    if (!given.count(p->name)) missing.push_back(p->name);
  for (const std::string& name : given)
    if (!network.parameters().find(name)) unexpected.push_back(name);
  if (missing.empty() && unexpected.empty()) return;
  std::string message = cat(where, ": the parameters do not match the ", network.architecture(), " config");
  if (!missing.empty()) message += cat("; ", missing.size(), " missing: ", list(missing));
  if (!unexpected.empty()) message += cat("; ", unexpected.size(), " unexpected: ", list(unexpected));
  throw IoError(message);
}

std::unique_ptr<nn::Network> load_model(const std::string& path, Device device) {
  H5File file = H5File::open(path);
  ModelFileInfo info = read_model_info(file);
  std::unique_ptr<nn::Network> net = nn::make_network(info.architecture, info.config, device, path);
  std::vector<std::string> in_file;
  for (const std::string& name : file.datasets())
    if (name.rfind(kParameters, 0) == 0) in_file.push_back(name.substr(std::string(kParameters).size()));
  require_parameter_names(*net, in_file, path);
  for (nn::Parameter* p : net->parameters().all()) {
    std::string dataset = kParameters + p->name;
    Shape stored = file.shape(dataset);
    if (stored != p->value.shape())
      throw IoError(cat(path, ": dataset ", dataset, " has shape ", stored.str(), ", config expects ", p->value.shape().str()));
    p->value.copy_from(file.read(dataset, DType::f32));
  }
  return net;
}

ModelSummary summarize_model(const std::string& path) {
  std::unique_ptr<nn::Network> net = load_model(path);
  H5File file = H5File::open(path);
  ModelSummary s;
  s.info = read_model_info(file);
  s.file_bytes = std::int64_t(std::filesystem::file_size(path));
  std::set<std::string> kinds;
  for (nn::Parameter* p : net->parameters().all()) {
    s.tensors += 1;
    s.parameters += p->value.numel();
    StoredAs as = file.stored_as(kParameters + p->name);
    kinds.insert(as == StoredAs::f16 ? "f16" : as == StoredAs::bf16 ? "bf16" : "f32");
  }
  s.stored = kinds.size() == 1 ? *kinds.begin() : kinds.empty() ? "f32" : "mixed";
  s.sha256 = weights_sha256(net->parameters());
  return s;
}

std::string weights_sha256(const nn::ParameterSet& params) {
  std::vector<nn::Parameter*> sorted = params.all();
  std::sort(sorted.begin(), sorted.end(), [](const nn::Parameter* a, const nn::Parameter* b) { return a->name < b->name; });
  Sha256 digest;
  for (const nn::Parameter* p : sorted) {
    digest.update(p->name.data(), p->name.size() + 1);  // std::string keeps a terminating zero
    std::int64_t rank = p->value.shape().rank();
    digest.update(&rank, sizeof rank);
    for (std::int64_t d = 0; d < rank; ++d) {
      std::int64_t extent = p->value.dim(int(d));
      digest.update(&extent, sizeof extent);
    }
    std::vector<float> values = p->value.to_vector<float>();
    digest.update(values.data(), values.size() * sizeof(float));
  }
  return Sha256::hex(digest.finish());
}

void save_model(nn::Network& network, const std::string& path, StoredAs stored, const std::string& diffusion_json,
                const std::string& inference_json) {
  H5File file = H5File::create(path);
  file.set_attribute("", "format", std::string(kModelFormat));
  file.set_attribute("", "format_version", kModelFormatVersion);
  file.set_attribute("", "architecture", network.architecture());
  file.set_attribute("", "config", network.config_json());
  if (!diffusion_json.empty()) file.set_attribute("", "diffusion", diffusion_json);
  if (!inference_json.empty()) file.set_attribute("", "inference", inference_json);
  for (nn::Parameter* p : network.parameters().all()) file.write(kParameters + p->name, p->value, stored);
  file.commit();
}

}  // namespace tweedie

#include "io/model_file.h"

#include <set>

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
  return info;
}

std::unique_ptr<nn::Network> load_model(const std::string& path, Device device) {
  H5File file = H5File::open(path);
  ModelFileInfo info = read_model_info(file);
  std::unique_ptr<nn::Network> net = nn::make_network(info.architecture, info.config, device, path);
  nn::ParameterSet& params = net->parameters();

  std::set<std::string> in_file;
  for (const std::string& name : file.datasets())
    if (name.rfind(kParameters, 0) == 0) in_file.insert(name.substr(std::string(kParameters).size()));
  std::vector<std::string> missing, unexpected;
  for (nn::Parameter* p : params.all())
    if (!in_file.count(p->name)) missing.push_back(p->name);
  for (const std::string& name : in_file)
    if (!params.find(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty()) {
    std::string message = cat(path, ": the parameters do not match the ", info.architecture, " config");
    if (!missing.empty()) message += cat("; ", missing.size(), " missing: ", list(missing));
    if (!unexpected.empty()) message += cat("; ", unexpected.size(), " unexpected: ", list(unexpected));
    throw IoError(message);
  }
  for (nn::Parameter* p : params.all()) {
    std::string dataset = kParameters + p->name;
    Shape stored = file.shape(dataset);
    if (stored != p->value.shape())
      throw IoError(cat(path, ": dataset ", dataset, " has shape ", stored.str(), ", config expects ", p->value.shape().str()));
    p->value.copy_from(file.read(dataset, DType::f32));
  }
  return net;
}

void save_model(nn::Network& network, const std::string& path, StoredAs stored) {
  H5File file = H5File::create(path);
  file.set_attribute("", "format", std::string(kModelFormat));
  file.set_attribute("", "format_version", kModelFormatVersion);
  file.set_attribute("", "architecture", network.architecture());
  file.set_attribute("", "config", network.config_json());
  for (nn::Parameter* p : network.parameters().all()) file.write(kParameters + p->name, p->value, stored);
  file.commit();
}

}  // namespace tweedie

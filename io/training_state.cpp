#include "io/training_state.h"

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "io/sha256.h"
#include "runtime/check.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

using json = nlohmann::json;

// The four tensor groups of a state, each with one dataset per parameter name.
constexpr const char* kWeights = "parameters/";
constexpr const char* kEma = "ema/";
constexpr const char* kFirstMoment = "adam_m/";
constexpr const char* kSecondMoment = "adam_v/";

json record_json(const TrainingDataRecord& r) {
  return {{"file", r.file}, {"dataset", r.dataset}, {"labels", r.labels}, {"items", r.items}, {"item_shape", r.item_shape}, {"sha256", r.sha256}};
}

template <class T>
T field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw IoError(cat(where, ": missing field '", key, "'"));
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw IoError(cat(where, ": field '", key, "' is ", j.at(key).dump(), ", of the wrong type"));
  }
}

json parse(const std::string& text, const std::string& where) {
  try {
    json j = json::parse(text);
    if (!j.is_object()) throw IoError(cat(where, " is not a JSON object"));
    return j;
  } catch (const json::exception& e) {
    throw IoError(cat(where, " is not JSON (", e.what(), ")"));
  }
}

TrainingStateInfo read_info(const H5File& f) {
  const std::string& path = f.path();
  auto attribute = [&](const char* name) {
    if (!f.has_attribute("", name)) throw IoError(cat(path, ": missing root attribute '", name, "'; is this a training state (tweedie train writes them)?"));
    return f.string_attribute("", name);
  };
  if (attribute("format") != kTrainingStateFormat)
    throw IoError(cat(path, ": attribute format is '", attribute("format"), "', not '", kTrainingStateFormat, "'"));
  std::int64_t version = std::int64_t(f.number_attribute("", "format_version"));
  if (version < 1 || version > kTrainingStateVersion)
    throw IoError(cat(path, ": training state version ", version, "; this tweedie reads up to version ", kTrainingStateVersion));
  TrainingStateInfo info;
  info.architecture = attribute("architecture");
  info.config = attribute("config");
  info.diffusion = attribute("diffusion");
  info.options = train_options_from_json(attribute("run"), cat(path, ": attribute run"));
  json d = parse(attribute("data"), cat(path, ": attribute data"));
  const std::string dw = cat(path, ": attribute data");
  info.data = {field<std::string>(d, "file", dw), field<std::string>(d, "dataset", dw), field<std::string>(d, "labels", dw),
               field<std::int64_t>(d, "items", dw), field<std::string>(d, "item_shape", dw), field<std::string>(d, "sha256", dw)};
  info.step = std::int64_t(f.number_attribute("", "step"));
  info.total_steps = std::int64_t(f.number_attribute("", "total_steps"));
  if (info.step < 0 || info.total_steps < info.step)
    throw IoError(cat(path, ": step ", info.step, " of ", info.total_steps, " is not a training position"));
  return info;
}

}  // namespace

TrainingDataRecord describe_training_data(const samplers::TrainingData& data, const std::string& file, const std::string& dataset,
                                          const std::string& labels) {
  TrainingDataRecord r{file, dataset, labels, data.x.dim(0), Shape(data.x.shape().dims().subspan(1)).str(), ""};
  Sha256 digest;
  Tensor host = data.x.to_host();
  digest.update(host.data<float>(), std::size_t(host.numel()) * sizeof(float));
  if (!data.labels.empty()) digest.update(data.labels.data(), data.labels.size() * sizeof(std::int64_t));
  r.sha256 = Sha256::hex(digest.finish());
  return r;
}

std::string train_options_json(const samplers::TrainOptions& o) {
  const nn::AdamWOptions& a = o.adam;
  json j = {{"batch", o.batch},
            {"seed", o.seed},
            {"time", {{"kind", o.time.kind}, {"p_mean", o.time.p_mean}, {"p_std", o.time.p_std}}},
            {"flip", o.flip},
            {"ema", o.ema},
            {"adamw",
             {{"lr", a.lr}, {"beta1", a.beta1}, {"beta2", a.beta2}, {"eps", a.eps}, {"weight_decay", a.weight_decay},
              {"clip_norm", a.clip_norm}, {"warmup", a.warmup}, {"decay", a.decay}, {"total_steps", a.total_steps}}}};
  return j.dump();
}

samplers::TrainOptions train_options_from_json(const std::string& text, const std::string& where) {
  json j = parse(text, where);
  samplers::TrainOptions o;
  o.batch = field<std::int64_t>(j, "batch", where);
  o.seed = field<std::uint64_t>(j, "seed", where);
  json t = field<json>(j, "time", where), a = field<json>(j, "adamw", where);
  o.time.kind = field<std::string>(t, "kind", where + " time");
  o.time.p_mean = field<double>(t, "p_mean", where + " time");
  o.time.p_std = field<double>(t, "p_std", where + " time");
  o.flip = field<bool>(j, "flip", where);
  o.ema = field<double>(j, "ema", where);
  const std::string aw = where + " adamw";
  o.adam.lr = field<double>(a, "lr", aw);
  o.adam.beta1 = field<double>(a, "beta1", aw);
  o.adam.beta2 = field<double>(a, "beta2", aw);
  o.adam.eps = field<double>(a, "eps", aw);
  o.adam.weight_decay = field<double>(a, "weight_decay", aw);
  o.adam.clip_norm = field<double>(a, "clip_norm", aw);
  o.adam.warmup = field<std::int64_t>(a, "warmup", aw);
  o.adam.decay = field<std::string>(a, "decay", aw);
  o.adam.total_steps = field<std::int64_t>(a, "total_steps", aw);
  try {
    o.validate();
  } catch (const ArgumentError& e) {
    throw IoError(cat(where, ": ", e.what()));
  }
  return o;
}

TrainingStateInfo read_training_state_info(const std::string& path) { return read_info(H5File::open(path)); }

void save_training_state(const std::string& path, samplers::Trainer& trainer, const std::string& diffusion_json,
                         const TrainingDataRecord& data, std::int64_t total_steps) {
  samplers::NetworkDenoiser& model = trainer.model();
  nn::Network& net = model.mutable_network();
  H5File f = H5File::create(path);
  f.set_attribute("", "format", std::string(kTrainingStateFormat));
  f.set_attribute("", "format_version", kTrainingStateVersion);
  f.set_attribute("", "architecture", net.architecture());
  f.set_attribute("", "config", net.config_json());
  f.set_attribute("", "diffusion", diffusion_json);
  f.set_attribute("", "run", train_options_json(trainer.options()));
  f.set_attribute("", "data", record_json(data).dump());
  f.set_attribute("", "step", trainer.steps_done());
  f.set_attribute("", "total_steps", total_steps);
  const std::vector<nn::Parameter*>& all = net.parameters().all();
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::string& name = all[i]->name;
    f.write(kWeights + name, all[i]->value);
    f.write(kEma + name, trainer.ema().values()[i]);
    f.write(kFirstMoment + name, trainer.optimizer().first_moments()[i]);
    f.write(kSecondMoment + name, trainer.optimizer().second_moments()[i]);
  }
  f.commit();
}

void load_training_state(const std::string& path, samplers::Trainer& trainer) {
  H5File f = H5File::open(path);
  TrainingStateInfo info = read_info(f);
  nn::Network& net = trainer.model().mutable_network();
  std::vector<std::string> names;
  for (const std::string& d : f.datasets())
    if (d.rfind(kWeights, 0) == 0) names.push_back(d.substr(std::string(kWeights).size()));
  require_parameter_names(net, names, path);
  const std::vector<nn::Parameter*>& all = net.parameters().all();
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (auto [group, target] : {std::pair<const char*, Tensor*>{kWeights, &all[i]->value},
                                 {kEma, &trainer.ema().values()[i]},
                                 {kFirstMoment, &trainer.optimizer().first_moments()[i]},
                                 {kSecondMoment, &trainer.optimizer().second_moments()[i]}}) {
      const std::string dataset = group + all[i]->name;
      if (!f.has(dataset)) throw IoError(cat(path, ": dataset ", dataset, " is missing"));
      if (f.shape(dataset) != target->shape())
        throw IoError(cat(path, ": dataset ", dataset, " has shape ", f.shape(dataset).str(), ", the network needs ", target->shape().str()));
      Tensor values = f.read(dataset, DType::f32);
      expect_finite_items(values.reshape(Shape{1, values.numel()}), cat(path, ": dataset ", dataset), "a training state must be finite");
      target->copy_from(values);
    }
  }
  trainer.optimizer().set_steps(info.step);
}

}  // namespace tweedie

#include "io/weight_import.h"

#include <cmath>
#include <map>

#include "io/checkpoint_readers.h"
#include "io/model_file.h"
#include "nn/registry.h"
#include "runtime/error.h"
#include "runtime/half.h"

namespace tweedie {
namespace {

// The names training code wraps a model's own names in.
const std::vector<std::string> kCommonWrappers = {"module.", "_orig_mod.", "model."};

const std::vector<ImportTable>& tables() {
  // guided-diffusion, improved-diffusion and DPS save UNetModel.state_dict(), whose names tweedie uses
  // unchanged; the MLP is tweedie's own.
  static const std::vector<ImportTable> all = {
      {"adm-unet", kCommonWrappers, {}},
      {"mlp", kCommonWrappers, {}},
  };
  return all;
}

std::string parent_of(const std::string& name) {
  std::size_t slash = name.rfind('/');
  return slash == std::string::npos ? "" : name.substr(0, slash);
}

std::string rename(const std::string& name, const ImportTable& table) {
  for (const PrefixRename& r : table.renames)
    if (name.rfind(r.from, 0) == 0) return r.to + name.substr(r.from.size());
  return name;
}

// The wrapper prefix every name carries, if any (applied repeatedly: "module._orig_mod.").
std::string strip_wrappers(TensorDict& dict, const ImportTable& table) {
  std::string stripped;
  for (bool again = true; again && !dict.empty();) {
    again = false;
    for (const std::string& prefix : table.wrapper_prefixes) {
      bool all = true;
      for (const auto& entry : dict) all = all && entry.first.rfind(prefix, 0) == 0;
      if (!all) continue;
      TensorDict out;
      for (auto& [name, t] : dict) out.emplace(name.substr(prefix.size()), std::move(t));
      dict = std::move(out);
      stripped += prefix;
      again = true;
    }
  }
  return stripped;
}

// Values for one parameter, rejecting what cannot be a weight. NaN and infinities are counted.
std::vector<float> parameter_values(const RawTensor& t, const std::string& what, std::int64_t* non_finite) {
  std::vector<float> v = t.to_f32(what);
  for (float x : v) *non_finite += std::isfinite(x) ? 0 : 1;
  return v;
}

StoredAs choose_storage(ImportPrecision precision, const std::vector<ElementType>& types) {
  switch (precision) {
    case ImportPrecision::f32: return StoredAs::f32;
    case ImportPrecision::f16: return StoredAs::f16;
    case ImportPrecision::bf16: return StoredAs::bf16;
    case ImportPrecision::keep: break;
  }
  // Keep 16-bit weights 16-bit (the conversion is exact both ways); anything else becomes f32.
  bool all_f16 = !types.empty(), all_bf16 = !types.empty();
  for (ElementType t : types) all_f16 = all_f16 && t == ElementType::f16, all_bf16 = all_bf16 && t == ElementType::bf16;
  return all_f16 ? StoredAs::f16 : all_bf16 ? StoredAs::bf16 : StoredAs::f32;
}

// Narrowing must not turn a finite weight into an infinity (f16 tops out at 65504).
void check_narrowing(const std::vector<float>& v, StoredAs stored, const std::string& what) {
  if (stored == StoredAs::f32) return;
  for (float x : v) {
    float back = stored == StoredAs::f16 ? f16_to_f32(f32_to_f16(x)) : bf16_to_f32(f32_to_bf16(x));
    if (std::isfinite(x) && !std::isfinite(back))
      throw IoError(cat(what, ": value ", x, " does not fit in ", stored == StoredAs::f16 ? "f16" : "bf16", "; convert with --dtype f32"));
  }
}

}  // namespace

const ImportTable& import_table(const std::string& architecture) {
  std::string known;
  for (const ImportTable& t : tables()) {
    if (t.architecture == architecture) return t;
    known += (known.empty() ? "" : ", ") + t.architecture;
  }
  throw ArgumentError(cat("no weight import table for architecture '", architecture, "' (known: ", known, ")"));
}

TensorDict select_state_dict(const TensorDict& all, const std::string& key, const std::string& where, std::string* chosen) {
  std::map<std::string, std::int64_t> groups;  // parent path -> tensors directly inside it
  for (const auto& entry : all) groups[parent_of(entry.first)] += 1;
  auto describe = [&] {
    std::string out;
    int shown = 0;
    for (const auto& [g, n] : groups) {
      if (shown++ == 12) {
        out += ", ...";
        break;
      }
      out += cat(out.empty() ? "" : ", ", g.empty() ? "(top level)" : g, " (", n, " tensors)");
    }
    return out;
  };
  if (all.empty()) throw IoError(cat(where, ": the checkpoint holds no tensors"));
  std::string group = key;
  if (group.empty()) {
    if (groups.size() != 1)
      throw IoError(cat(where, ": the checkpoint holds several dicts of tensors: ", describe(), "; choose one with --key"));
    group = groups.begin()->first;
  } else if (!groups.count(group)) {
    throw IoError(cat(where, ": no dict of tensors under the key '", key, "'; the checkpoint holds: ", describe()));
  }
  TensorDict out;
  for (const auto& [name, t] : all)
    if (parent_of(name) == group) out.emplace(group.empty() ? name : name.substr(group.size() + 1), t);
  if (chosen) *chosen = group;
  return out;
}

ImportReport import_checkpoint(const std::string& input, const std::string& output, const ImportOptions& options) {
  const ImportTable& table = import_table(options.architecture);
  ImportReport report;
  TensorDict dict = select_state_dict(read_checkpoint(input), options.key, input, &report.chosen_key);
  report.stripped_prefix = strip_wrappers(dict, table);
  TensorDict named;
  for (auto& [name, t] : dict) {
    std::string to = rename(name, table);
    if (named.count(to)) throw IoError(cat(input, ": two tensors map onto the parameter ", to));
    named.emplace(to, std::move(t));
  }

  std::unique_ptr<nn::Network> net = nn::make_network(options.architecture, options.config_json, Device::cpu(), "the model config");
  std::vector<std::string> names;
  for (const auto& entry : named) names.push_back(entry.first);
  require_parameter_names(*net, names, input);

  std::vector<ElementType> types;
  for (const auto& entry : named) types.push_back(entry.second.type);
  report.stored = choose_storage(options.precision, types);
  for (nn::Parameter* p : net->parameters().all()) {
    const RawTensor& t = named.at(p->name);
    const std::string what = cat(input, ": ", report.chosen_key.empty() ? "" : report.chosen_key + "/", p->name);
    Shape expected = p->value.shape();
    bool same = int(t.shape.size()) == expected.rank();
    for (std::size_t d = 0; same && d < t.shape.size(); ++d) same = t.shape[d] == expected[int(d)];
    if (!same) {
      std::string got = "(";
      for (std::size_t d = 0; d < t.shape.size(); ++d) got += cat(d ? "," : "", t.shape[d]);
      throw IoError(cat(what, " has shape ", got, "), the config expects ", expected.str()));
    }
    std::int64_t bad_before = report.non_finite;
    std::vector<float> values = parameter_values(t, what, &report.non_finite);
    if (report.non_finite > bad_before) {
      std::string message = cat(what, ": ", report.non_finite - bad_before, " of ", values.size(), " values are NaN or infinite");
      if (options.nan == NanPolicy::error) throw IoError(message + " (--nan warn converts anyway)");
      report.warnings.push_back(message);
    }
    check_narrowing(values, report.stored, what);
    p->value.copy_from(Tensor::from_host(std::span<const float>(values), expected));
    report.tensors += 1;
    report.parameters += p->value.numel();
  }
  save_model(*net, output, report.stored, options.diffusion_json);
  return report;
}

}  // namespace tweedie

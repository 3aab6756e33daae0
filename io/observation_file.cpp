#include "io/observation_file.h"

#include <map>

#include "io/hdf5_file.h"
#include "runtime/error.h"
#include "samplers/noise/likelihood.h"

namespace tweedie {
namespace {

std::string shape_text(const Shape& s) {
  std::string t;
  for (std::int64_t d : s.dims()) {
    if (!t.empty()) t += ',';
    t += std::to_string(d);
  }
  return t;
}

// Copies every dataset a spec read into `out` under group/<field> and returns the spec pointing there.
std::string embed_data(H5File& out, std::string spec, const std::vector<SpecData>& data, const std::string& group) {
  std::map<std::string, int> seen;
  for (const SpecData& d : data) {
    std::string name = group + "/" + d.field;
    if (int n = seen[d.field]++) name += std::to_string(n);
    if (!out.has(name)) out.write(name, H5File::open(d.file).read(d.dataset));
    std::string from = d.reference(), to = "#" + name;
    for (std::size_t at = spec.find(from); at != std::string::npos; at = spec.find(from, at + to.size())) spec.replace(at, from.size(), to);
  }
  return spec;
}

}  // namespace

void save_observation(const std::string& path, const Tensor& y, const samplers::Signal& x, const BuiltOperator& op, const BuiltNoise& noise,
                      const std::vector<std::pair<std::string, std::string>>& attributes) {
  H5File out = H5File::create(path);
  out.write("y", y);
  if (op.op->observed().defined()) out.write("observed", op.op->observed());
  out.set_attribute("", "tweedie", "observation");
  out.set_attribute("", "operator", embed_data(out, op.op->describe(), op.data, "operator"));
  out.set_attribute("", "noise", noise.noise ? embed_data(out, noise.noise->describe(), noise.data, "noise") : std::string("none"));
  out.set_attribute("", "x_shape", shape_text(x.shape));
  out.set_attribute("", "x_dtype", dtype_name(x.dtype));
  for (const auto& [name, value] : attributes) out.set_attribute("", name, value);
  out.commit();
}

void check_observations(const Tensor& y, const BuiltOperator& op, const BuiltNoise& noise, const std::string& where) {
  if (noise.noise) {
    Context ctx(y.device());
    samplers::Likelihood(op.op, noise.noise).validate(ctx, y, where);
  } else {
    op.op->check_observations(y, where);
  }
}

Observation load_observation(const std::string& path, Device device) {
  H5File f = H5File::open(path);
  auto attribute = [&](const char* name) {
    if (!f.has_attribute("", name)) throw IoError(cat(path, ": no root attribute '", name, "'; is this an observation file (tweedie simulate writes them)?"));
    return f.string_attribute("", name);
  };
  if (attribute("tweedie") != "observation") throw IoError(cat(path, ": attribute tweedie is '", attribute("tweedie"), "', not 'observation'"));
  Observation o;
  o.path = path;
  SpecOptions options;
  options.flag = path + ": operator";
  options.base_file = path;
  std::string shape = attribute("x_shape");
  std::vector<std::int64_t> dims;
  for (std::size_t at = 0; at <= shape.size();) {
    std::size_t comma = std::min(shape.find(',', at), shape.size());
    try {
      dims.push_back(std::stoll(shape.substr(at, comma - at)));
    } catch (const std::exception&) {
      throw IoError(cat(path, ": x_shape '", shape, "' is not a list of sizes such as 1,64,64"));
    }
    at = comma + 1;
  }
  o.x.shape = Shape(std::span<const std::int64_t>(dims));
  std::string dtype = f.has_attribute("", "x_dtype") ? f.string_attribute("", "x_dtype") : "f32";
  if (dtype != "f32" && dtype != "c64") throw IoError(cat(path, ": x_dtype '", dtype, "' must be f32 or c64"));
  o.x.dtype = dtype == "c64" ? DType::c64 : DType::f32;
  if (!f.has("y")) throw IoError(cat(path, ": no dataset 'y'"));
  o.y = f.read("y", device);
  if (o.y.rank() < 1) throw IoError(cat(path, ": dataset 'y' is a scalar; its first axis counts observations"));
  options.items = o.y.dim(0);  // for 'each:' operators, one per observation
  o.op = build_operator(attribute("operator"), o.x, device, options);
  options.flag = path + ": noise";
  o.noise = build_noise(attribute("noise"), o.op.op->output(), device, options);
  std::string where = path + ": dataset 'y'";
  check_observations(o.y, o.op, o.noise, where);
  return o;
}

}  // namespace tweedie

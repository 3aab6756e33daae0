#include "io/prior_file.h"

#include <set>
#include <span>
#include <vector>

#include "io/hdf5_file.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

using samplers::GaussianPrior;
using samplers::MixturePrior;
using Cov = GaussianPrior::Covariance;

std::vector<double> read_values(const H5File& file, const std::string& name) {
  std::vector<float> v = file.read(name, DType::f32).to_vector<float>();
  return {v.begin(), v.end()};
}

void write_values(H5File& file, const std::string& name, const std::vector<double>& values, const Shape& shape) {
  if (std::int64_t(values.size()) != shape.numel())
    throw ArgumentError(cat(file.path(), ": '", name, "' has ", values.size(), " values for shape ", shape.str()));
  std::vector<float> f(values.begin(), values.end());
  file.write(name, Tensor::from_host(std::span<const float>(f), shape));
}

void require_shape(const H5File& file, const std::string& name, const Shape& expected, const std::string& why) {
  Shape got = file.shape(name);
  if (got != expected)
    throw IoError(cat(file.path(), ": dataset '", name, "' has shape ", got.str(), ", expected ", expected.str(), " ", why));
}

void require_attribute(const H5File& file, const char* name) {
  if (!file.has_attribute("", name)) throw IoError(cat(file.path(), ": missing root attribute '", name, "'"));
}

// Every dataset must be one this prior kind knows: a typo ("covs" in a gaussian file) is an error, not
// a silently ignored dataset.
void require_known_datasets(const H5File& file, const std::set<std::string>& known, const std::string& prior) {
  for (const std::string& name : file.datasets())
    if (!known.count(name))
      throw IoError(cat(file.path(), ": unexpected dataset '", name, "' in a \"", prior, "\" prior file"));
}

GaussianPrior read_gaussian(const H5File& file) {
  const std::string& path = file.path();
  require_known_datasets(file, {"mean", "cov", "var", "factor", "spectrum"}, "gaussian");
  if (!file.has("mean")) throw IoError(cat(path, ": missing dataset 'mean'"));
  GaussianPrior p;
  p.item_shape = file.shape("mean");
  if (p.item_shape.rank() < 1 || p.item_shape.rank() > kMaxRank - 1 || p.item_shape.numel() < 1)
    throw IoError(cat(path, ": dataset 'mean' has shape ", p.item_shape.str(), "; an item needs 1 to ", kMaxRank - 1,
                      " dimensions and at least one element"));
  std::int64_t d = p.item_shape.numel();
  p.mean = read_values(file, "mean");
  bool cov = file.has("cov"), var = file.has("var"), factor = file.has("factor"), spectrum = file.has("spectrum");
  if (int(cov) + int(var) + int(spectrum) != 1 || (factor && !var))
    throw IoError(cat(path, ": a gaussian prior needs exactly one of 'cov' (dense), 'var' (diagonal), 'var' with "
                      "'factor' (low rank) and 'spectrum' (stationary)"));
  std::string items = cat("(the item shape of 'mean')");
  if (cov) {
    p.kind = Cov::dense;
    require_shape(file, "cov", {d, d}, cat("(D x D with D = ", d, ")"));
    p.cov = read_values(file, "cov");
  } else if (spectrum) {
    p.kind = Cov::stationary;
    if (p.item_shape.rank() != 3)
      throw IoError(cat(path, ": dataset 'spectrum' needs (C, H, W) items; 'mean' has shape ", p.item_shape.str()));
    require_shape(file, "spectrum", p.item_shape, items);
    p.spectrum = read_values(file, "spectrum");
  } else {
    p.kind = factor ? Cov::low_rank : Cov::diagonal;
    require_shape(file, "var", p.item_shape, items);
    p.var = read_values(file, "var");
    if (factor) {
      Shape f = file.shape("factor");
      if (f.rank() != 2 || f[0] != d || f[1] < 1)
        throw IoError(cat(path, ": dataset 'factor' has shape ", f.str(), ", expected (", d, ", r) with r >= 1"));
      p.rank = f[1];
      p.factor = read_values(file, "factor");
    }
  }
  return p;
}

MixturePrior read_gmm(const H5File& file) {
  const std::string& path = file.path();
  require_known_datasets(file, {"weights", "means", "covs"}, "gmm");
  for (const char* name : {"weights", "means", "covs"})
    if (!file.has(name)) throw IoError(cat(path, ": missing dataset '", name, "'"));
  Shape w = file.shape("weights"), m = file.shape("means");
  if (w.rank() != 1 || w[0] < 1) throw IoError(cat(path, ": dataset 'weights' has shape ", w.str(), ", expected (K) with K >= 1"));
  if (m.rank() != 2 || m[0] != w[0] || m[1] < 1)
    throw IoError(cat(path, ": dataset 'means' has shape ", m.str(), ", expected (", w[0], ", D) like 'weights'"));
  require_shape(file, "covs", {m[0], m[1], m[1]}, "(K, D, D like 'means')");
  MixturePrior p;
  p.dim = m[1];
  p.weights = read_values(file, "weights");
  p.means = read_values(file, "means");
  p.covs = read_values(file, "covs");
  return p;
}

H5File create_prior_file(const std::string& path, const char* prior) {
  H5File file = H5File::create(path);
  file.set_attribute("", "format", std::string(kPriorFormat));
  file.set_attribute("", "format_version", kPriorFormatVersion);
  file.set_attribute("", "prior", std::string(prior));
  return file;
}

}  // namespace

PriorFileContents read_prior(const std::string& path) {
  H5File file = H5File::open(path);
  require_attribute(file, "format");
  if (file.string_attribute("", "format") != kPriorFormat)
    throw IoError(cat(path, ": not a tweedie prior file (root attribute format = \"", file.string_attribute("", "format"),
                      "\", expected \"", kPriorFormat, "\")"));
  require_attribute(file, "format_version");
  double version = file.number_attribute("", "format_version");
  if (!(version >= 1 && version <= double(kPriorFormatVersion)))
    throw IoError(cat(path, ": prior file format version ", version, "; this tweedie reads up to version ",
                      kPriorFormatVersion));
  require_attribute(file, "prior");
  PriorFileContents c;
  c.prior = file.string_attribute("", "prior");
  if (c.prior == "gaussian") c.gaussian = read_gaussian(file);
  else if (c.prior == "gmm") c.mixture = read_gmm(file);
  else throw IoError(cat(path, ": root attribute prior = \"", c.prior, "\", expected \"gaussian\" or \"gmm\""));
  return c;
}

std::unique_ptr<samplers::Denoiser> load_prior(const std::string& path, std::unique_ptr<samplers::Process> process,
                                               Device device) {
  if (!process) throw ArgumentError(cat(path, ": an exact prior needs a noising process"));
  PriorFileContents c = read_prior(path);
  // The constructors check the values and name the field, which is the dataset; the file is the culprit.
  try {
    if (c.prior == "gaussian")
      return std::make_unique<samplers::GaussianDenoiser>(std::move(c.gaussian), std::move(process), device, path);
    return std::make_unique<samplers::MixtureDenoiser>(std::move(c.mixture), std::move(process), device, path);
  } catch (const ArgumentError& e) {
    throw IoError(e.what());
  }
}

void save_gaussian_prior(const std::string& path, const GaussianPrior& p) {
  H5File file = create_prior_file(path, "gaussian");
  std::int64_t d = p.item_shape.numel();
  write_values(file, "mean", p.mean, p.item_shape);
  switch (p.kind) {
    case Cov::dense: write_values(file, "cov", p.cov, {d, d}); break;
    case Cov::diagonal: write_values(file, "var", p.var, p.item_shape); break;
    case Cov::low_rank:
      write_values(file, "var", p.var, p.item_shape);
      write_values(file, "factor", p.factor, {d, p.rank});
      break;
    case Cov::stationary: write_values(file, "spectrum", p.spectrum, p.item_shape); break;
  }
  file.commit();
}

void save_gmm_prior(const std::string& path, const MixturePrior& p) {
  H5File file = create_prior_file(path, "gmm");
  std::int64_t k = p.components(), d = p.dim;
  write_values(file, "weights", p.weights, {k});
  write_values(file, "means", p.means, {k, d});
  write_values(file, "covs", p.covs, {k, d, d});
  file.commit();
}

}  // namespace tweedie

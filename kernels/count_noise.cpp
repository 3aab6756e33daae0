#include "kernels/count_noise.h"

#include <cmath>

#include "runtime/check.h"
#include "runtime/parallel.h"
#include "runtime/parallel_reduce.h"

namespace tweedie {
namespace {

// The shape checks every op starts with: data of `dtype` (or, where complex is allowed, c64) on ctx's
// device, `items` equal rows, and the parameter and mask tensors one f32 per entry of a row.
struct Batch {
  NoiseRows rows;
  std::int64_t items;
};

Batch layout(Context& ctx, const char* op, const Tensor& z, const Tensor& observed, std::int64_t items, bool complex_ok) {
  bool complex = z.defined() && z.dtype() == DType::c64 && complex_ok;
  expect_tensor(ctx, op, "z", z, complex ? DType::c64 : DType::f32);
  if (items < 1 || z.numel() % items != 0)
    throw ShapeError(cat(op, ": cannot split z ", z.str(), " into ", items, " equal items"));
  std::int64_t entries = z.numel() / items;
  if (observed.defined()) {
    expect_tensor(ctx, op, "observed", observed);
    if (observed.numel() != entries)
      throw ShapeError(cat(op, ": observed is ", observed.str(), " but items of z ", z.str(), " have ", entries, " entries"));
  }
  int shift = complex ? 1 : 0;
  return {{entries << shift, shift, observed.defined() ? observed.data<float>() : nullptr}, items};
}

// The float view the kernels read: f32 as is, c64 as (..., 2).
const float* floats(const Tensor& t) { return t.dtype() == DType::c64 ? t.view_as_real().data<float>() : t.data<float>(); }
float* floats(Tensor& t) { return t.dtype() == DType::c64 ? t.view_as_real().data<float>() : t.data<float>(); }

void expect_like_z(Context& ctx, const char* op, const char* name, const Tensor& t, const Tensor& z) {
  expect_tensor(ctx, op, name, t, z.dtype());
  expect_same_shape(op, "z", z, name, t);
}

EntryValues values(Context& ctx, const char* op, const char* name, const EntryParameter& p, std::int64_t entries) {
  if (!p.per_entry.defined()) return {nullptr, p.value};
  expect_tensor(ctx, op, name, p.per_entry);
  if (p.per_entry.numel() != entries)
    throw ShapeError(cat(op, ": ", name, " is ", p.per_entry.str(), " but an item has ", entries, " entries"));
  return {p.per_entry.data<float>(), 0.0};
}

// Runs a row reducer and brings one double per item to the host.
template <class R>
std::vector<double> per_item(Context& ctx, const R& r, const Batch& b) {
  return reduce_rows_to_host(ctx, b.items, b.rows.cols, r);
}

}  // namespace

void gaussian_noise_sample(Context& ctx, const Tensor& z, const EntryParameter& sigma, const Tensor& observed,
                           RandomStream rng, std::int64_t items, Tensor& y) {
  const char* op = "gaussian_noise_sample";
  Batch b = layout(ctx, op, z, observed, items, true);
  expect_like_z(ctx, op, "y", y, z);
  EntryValues s = values(ctx, op, "sigma", sigma, b.rows.cols >> b.rows.shift);
  for_each_2d(ctx, b.items, b.rows.cols, GaussianSample{floats(z), floats(y), s, b.rows, rng.seed, rng.stream});
}

std::vector<double> gaussian_noise_log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const EntryParameter& sigma,
                                                  const Tensor& observed, std::int64_t items) {
  const char* op = "gaussian_noise_log_likelihood";
  Batch b = layout(ctx, op, z, observed, items, true);
  expect_like_z(ctx, op, "y", y, z);
  EntryValues s = values(ctx, op, "sigma", sigma, b.rows.cols >> b.rows.shift);
  return per_item(ctx, GaussianLogLikelihood{floats(y), floats(z), s, b.rows}, b);
}

void gaussian_noise_gradient(Context& ctx, const Tensor& y, const Tensor& z, const EntryParameter& sigma,
                             const Tensor& observed, std::int64_t items, Tensor& g) {
  const char* op = "gaussian_noise_gradient";
  Batch b = layout(ctx, op, z, observed, items, true);
  expect_like_z(ctx, op, "y", y, z);
  expect_like_z(ctx, op, "g", g, z);
  EntryValues s = values(ctx, op, "sigma", sigma, b.rows.cols >> b.rows.shift);
  for_each_2d(ctx, b.items, b.rows.cols, GaussianGradient{floats(y), floats(z), floats(g), s, b.rows});
}

void poisson_noise_sample(Context& ctx, const Tensor& z, RateLink link, double scale, const Tensor& observed,
                          RandomStream rng, std::int64_t items, Tensor& y) {
  const char* op = "poisson_noise_sample";
  Batch b = layout(ctx, op, z, observed, items, false);
  expect_like_z(ctx, op, "y", y, z);
  for_each_2d(ctx, b.items, b.rows.cols, PoissonSample{z.data<float>(), y.data<float>(), link, scale, b.rows, rng.seed, rng.stream});
}

std::vector<double> poisson_noise_log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, RateLink link, double scale,
                                                 const Tensor& observed, std::int64_t items) {
  const char* op = "poisson_noise_log_likelihood";
  Batch b = layout(ctx, op, z, observed, items, false);
  expect_like_z(ctx, op, "y", y, z);
  return per_item(ctx, PoissonLogLikelihood{y.data<float>(), z.data<float>(), link, scale, std::log(scale), b.rows}, b);
}

void poisson_noise_gradient(Context& ctx, const Tensor& y, const Tensor& z, RateLink link, double scale,
                            const Tensor& observed, std::int64_t items, Tensor& g) {
  const char* op = "poisson_noise_gradient";
  Batch b = layout(ctx, op, z, observed, items, false);
  expect_like_z(ctx, op, "y", y, z);
  expect_like_z(ctx, op, "g", g, z);
  for_each_2d(ctx, b.items, b.rows.cols, PoissonGradient{y.data<float>(), z.data<float>(), g.data<float>(), link, scale, b.rows});
}

void binomial_noise_sample(Context& ctx, const Tensor& z, const EntryParameter& trials, double scale,
                           const Tensor& observed, RandomStream rng, std::int64_t items, Tensor& y) {
  const char* op = "binomial_noise_sample";
  Batch b = layout(ctx, op, z, observed, items, false);
  expect_like_z(ctx, op, "y", y, z);
  EntryValues n = values(ctx, op, "trials", trials, b.rows.cols);
  for_each_2d(ctx, b.items, b.rows.cols, BinomialSample{z.data<float>(), y.data<float>(), n, scale, b.rows, rng.seed, rng.stream});
}

std::vector<double> binomial_noise_log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const EntryParameter& trials,
                                                  double scale, const Tensor& observed, std::int64_t items) {
  const char* op = "binomial_noise_log_likelihood";
  Batch b = layout(ctx, op, z, observed, items, false);
  expect_like_z(ctx, op, "y", y, z);
  EntryValues n = values(ctx, op, "trials", trials, b.rows.cols);
  return per_item(ctx, BinomialLogLikelihood{y.data<float>(), z.data<float>(), n, scale, std::log(scale), b.rows}, b);
}

void binomial_noise_gradient(Context& ctx, const Tensor& y, const Tensor& z, const EntryParameter& trials, double scale,
                             const Tensor& observed, std::int64_t items, Tensor& g) {
  const char* op = "binomial_noise_gradient";
  Batch b = layout(ctx, op, z, observed, items, false);
  expect_like_z(ctx, op, "y", y, z);
  expect_like_z(ctx, op, "g", g, z);
  EntryValues n = values(ctx, op, "trials", trials, b.rows.cols);
  for_each_2d(ctx, b.items, b.rows.cols,
              BinomialGradient{y.data<float>(), z.data<float>(), g.data<float>(), n, scale, b.rows});
}

}  // namespace tweedie

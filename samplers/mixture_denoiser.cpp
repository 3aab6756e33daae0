#include "samplers/mixture_denoiser.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/axpby.h"
#include "kernels/channel_ops.h"
#include "kernels/gemm.h"
#include "kernels/map.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "runtime/check.h"
#include "samplers/gaussian_denoiser.h"

namespace tweedie::samplers {

struct MixtureDenoiser::Linearization final : DenoiserLinearization {
  std::vector<double> resp;        // N x K
  std::vector<Tensor> jacobian;    // J_k's gains in component k's eigenbasis (D)
  std::vector<Tensor> deviations;  // m_k - E (N, D)
  std::vector<Tensor> scores;      // g_k (N, D)
};

namespace {

constexpr const char* kName = "MixtureDenoiser";
constexpr std::uint64_t kChoiceStream = std::uint64_t(1) << 40;  // the uniforms that pick components

// Per-item coefficients for a batch of `items` rows paired with linearized item b % n.
std::vector<double> tiled_column(const std::vector<double>& resp, std::int64_t n, std::int64_t k_count, std::int64_t k,
                                 std::int64_t items) {
  std::vector<double> out(static_cast<std::size_t>(items));
  for (std::int64_t b = 0; b < items; ++b) out[std::size_t(b)] = resp[std::size_t((b % n) * k_count + k)];
  return out;
}

}  // namespace

MixtureDenoiser::MixtureDenoiser(MixturePrior prior, std::unique_ptr<Process> process, Device device,
                                 const std::string& where)
    : prior_(std::move(prior)), process_(std::move(process)), device_(device) {
  if (!process_) throw ArgumentError(cat(where, ": no process"));
  std::int64_t k_count = prior_.components(), d = prior_.dim;
  if (k_count < 1) throw ArgumentError(cat(where, ": 'weights' is empty"));
  if (d < 1) throw ArgumentError(cat(where, ": dimension ", d, " < 1"));
  double total = 0;
  for (std::int64_t k = 0; k < k_count; ++k) {
    double w = prior_.weights[std::size_t(k)];
    if (!std::isfinite(w) || w < 0) throw ArgumentError(cat(where, ": 'weights' has the invalid weight ", w, " at ", k));
    total += w;
  }
  if (std::abs(total - 1.0) > kWeightTolerance)
    throw ArgumentError(cat(where, ": 'weights' sum to ", total, ", not 1 (tolerance ", kWeightTolerance, ")"));
  for (double& w : prior_.weights) w /= total;
  if (std::int64_t(prior_.means.size()) != k_count * d)
    throw ArgumentError(cat(where, ": 'means' has ", prior_.means.size(), " values, expected ", k_count, " x ", d));
  for (std::size_t i = 0; i < prior_.means.size(); ++i)
    if (!std::isfinite(prior_.means[i])) throw ArgumentError(cat(where, ": 'means' has a non-finite value at ", i));
  if (std::int64_t(prior_.covs.size()) != k_count * d * d)
    throw ArgumentError(cat(where, ": 'covs' has ", prior_.covs.size(), " values, expected ", k_count, " x ", d, " x ", d));
  for (std::int64_t k = 0; k < k_count; ++k) {
    auto first = prior_.covs.begin() + k * d * d;
    std::vector<double> cov(first, first + d * d), mean(prior_.means.begin() + k * d, prior_.means.begin() + (k + 1) * d);
    SymmetricEigen e = checked_covariance_eigen(cov, d, where, cat("covs[", k, "]"));
    std::vector<double> roots(e.values.size());
    for (std::size_t i = 0; i < roots.size(); ++i) roots[i] = std::sqrt(e.values[i]);
    means_.push_back(detail::upload(mean, {d}, device_));
    bases_.push_back(detail::upload(e.vectors, {d, d}, device_));
    roots_.push_back(detail::upload(roots, {d}, device_));
    eigenvalues_.push_back(std::move(e.values));
  }
}

MixtureDenoiser::Gains MixtureDenoiser::make_gains(double t) const {
  double a = process_->alpha(t), s = process_->sigma(t);
  Gains g;
  for (const std::vector<double>& l : eigenvalues_) {
    std::vector<double> jac(l.size()), whiten(l.size());
    double log_det = 0;
    for (std::size_t i = 0; i < l.size(); ++i) {
      double den = a * a * l[i] + s * s;
      if (!(den > 0))
        throw ArgumentError(cat(kName, ": at t = ", t, " a component's alpha^2 S + sigma^2 I is singular; the mixture "
                                "needs sigma(t) > 0 or non-singular covariances"));
      jac[i] = a * l[i] / den;
      whiten[i] = 1.0 / std::sqrt(den);
      log_det += std::log(den);
    }
    std::int64_t d = std::int64_t(l.size());
    g.jacobian.push_back(detail::upload(jac, {d}, device_));
    g.whiten.push_back(detail::upload(whiten, {d}, device_));
    g.log_det.push_back(log_det);
  }
  return g;
}

void MixtureDenoiser::check_items(const Context& ctx, const char* name, const Tensor& x) const {
  expect_tensor(ctx, kName, name, x);
  if (x.rank() != 2 || x.dim(1) != prior_.dim)
    throw ShapeError(cat(kName, ": ", name, " is ", x.str(), ", expected (N, ", prior_.dim, ")"));
  if (x.device() != device_)
    throw DeviceError(cat(kName, ": ", name, " is on ", x.device().str(), " but the prior lives on ", device_.str()));
}

void MixtureDenoiser::run(Context& ctx, const Tensor& xt, double t, Tensor* x0, std::vector<double>& resp,
                          Linearization* lin) const {
  check_items(ctx, "xt", xt);
  std::int64_t n = xt.dim(0), d = prior_.dim, k_count = prior_.components();
  Gains gains = make_gains(t);
  float alpha = float(process_->alpha(t));
  Device dev = ctx.device();
  Tensor residual = Tensor::empty({n, d}, dev), coef = Tensor::empty({n, d}, dev), white = Tensor::empty({n, d}, dev);
  Tensor scaled = Tensor::empty({n, d}, dev);
  std::vector<Tensor> means;
  std::vector<double> log_p(std::size_t(n * k_count));
  for (std::int64_t k = 0; k < k_count; ++k) {
    const Tensor& basis = bases_[std::size_t(k)];
    residual.copy_from(xt);
    add_channel_vector(ctx, residual, means_[std::size_t(k)], -alpha);
    matmul(ctx, residual, basis, coef, {.trans_b = true});  // U_k^T (x_t - alpha mu_k)
    detail::scale_columns(ctx, coef, gains.whiten[std::size_t(k)], white);
    std::vector<double> norms = norm2_rows(ctx, white, n);
    double log_w = prior_.weights[std::size_t(k)] > 0 ? std::log(prior_.weights[std::size_t(k)])
                                                       : -std::numeric_limits<double>::infinity();
    for (std::int64_t i = 0; i < n; ++i)
      log_p[std::size_t(i * k_count + k)] = log_w - 0.5 * norms[std::size_t(i)] * norms[std::size_t(i)] -
                                            0.5 * gains.log_det[std::size_t(k)];
    if (!x0) continue;
    Tensor m = Tensor::empty({n, d}, dev);
    detail::scale_columns(ctx, coef, gains.jacobian[std::size_t(k)], scaled);
    matmul(ctx, scaled, basis, m);
    add_channel_vector(ctx, m, means_[std::size_t(k)]);
    means.push_back(m);
    if (lin) {
      Tensor g = Tensor::empty({n, d}, dev);
      detail::scale_columns(ctx, white, gains.whiten[std::size_t(k)], scaled);
      matmul(ctx, scaled, basis, g, {.alpha = -1.0f});
      lin->scores.push_back(g);
    }
  }
  resp.assign(std::size_t(n * k_count), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const double* lp = &log_p[std::size_t(i * k_count)];
    double top = *std::max_element(lp, lp + k_count), total = 0;
    for (std::int64_t k = 0; k < k_count; ++k) total += std::exp(lp[k] - top);
    for (std::int64_t k = 0; k < k_count; ++k) resp[std::size_t(i * k_count + k)] = std::exp(lp[k] - top) / total;
  }
  if (!x0) return;
  Tensor out = *x0;
  fill(ctx, out, 0.0f);
  for (std::int64_t k = 0; k < k_count; ++k)
    detail::add_scaled_rows(ctx, means[std::size_t(k)], tiled_column(resp, n, k_count, k, n), out, scaled);
  if (!lin) return;
  for (Tensor& m : means) sub(ctx, m, out, m);
  lin->deviations = std::move(means);
  lin->jacobian = std::move(gains.jacobian);
}

void MixtureDenoiser::denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const {
  check_items(ctx, "x0", x0);
  expect_same_shape(kName, "xt", xt, "x0", x0);
  expect_distinct(kName, "xt", xt, "x0", x0);
  std::vector<double> resp;
  run(ctx, xt, t, &x0, resp, nullptr);
  forward_count += xt.dim(0);
}

std::unique_ptr<DenoiserLinearization> MixtureDenoiser::linearize(Context& ctx, const Tensor& xt, double t,
                                                                  Tensor& x0) const {
  check_items(ctx, "x0", x0);
  expect_same_shape(kName, "xt", xt, "x0", x0);
  expect_distinct(kName, "xt", xt, "x0", x0);
  auto lin = std::make_unique<Linearization>();
  lin->batch = xt.dim(0);
  lin->t = t;
  run(ctx, xt, t, &x0, lin->resp, lin.get());
  forward_count += xt.dim(0);
  return lin;
}

std::vector<double> MixtureDenoiser::responsibilities(Context& ctx, const Tensor& xt, double t) const {
  std::vector<double> resp;
  run(ctx, xt, t, nullptr, resp, nullptr);
  return resp;
}

// J v (or J^T u): the responsibility-weighted component Jacobians, then the rank-K correction whose
// coefficients come from dot products with the linearized item's scores (or deviations).
void MixtureDenoiser::product(Context& ctx, const DenoiserLinearization& base, const Tensor& in, Tensor& out,
                              bool transpose) const {
  const char* in_name = transpose ? "u" : "v";
  const auto* lin = dynamic_cast<const Linearization*>(&base);
  if (!lin) throw ArgumentError(cat(kName, ": not a linearization of this denoiser"));
  check_items(ctx, in_name, in);
  check_items(ctx, "output", out);
  expect_same_shape(kName, in_name, in, "output", out);
  expect_distinct(kName, in_name, in, "output", out);
  std::int64_t n = lin->batch, items = in.dim(0), d = prior_.dim, k_count = prior_.components();
  if (n <= 0 || items % n != 0)
    throw ShapeError(cat(kName, ": ", in_name, " has ", items, " items, not a multiple of the ", n, " linearized"));
  Device dev = ctx.device();
  Tensor coef = Tensor::empty({items, d}, dev), scaled = Tensor::empty({items, d}, dev);
  fill(ctx, out, 0.0f);
  std::vector<double> dots(std::size_t(k_count * items));  // (in . g_k) or (in . (m_k - E)), per k then item
  for (std::int64_t k = 0; k < k_count; ++k) {
    const Tensor& basis = bases_[std::size_t(k)];
    matmul(ctx, in, basis, coef, {.trans_b = true});
    detail::scale_columns(ctx, coef, lin->jacobian[std::size_t(k)], scaled);
    matmul(ctx, scaled, basis, coef);
    detail::add_scaled_rows(ctx, coef, tiled_column(lin->resp, n, k_count, k, items), out, scaled);
    const Tensor& partner = transpose ? lin->deviations[std::size_t(k)] : lin->scores[std::size_t(k)];
    for (std::int64_t j = 0; j < items / n; ++j) {
      std::vector<double> block = dot_rows(ctx, in.slice(j * n, n), partner, n);
      std::copy(block.begin(), block.end(), dots.begin() + k * items + j * n);
    }
  }
  Tensor block_scratch = Tensor::empty({n, d}, dev);
  std::vector<std::vector<double>> coefficients(std::size_t(k_count), std::vector<double>(static_cast<std::size_t>(items)));
  for (std::int64_t b = 0; b < items; ++b) {
    const double* r = &lin->resp[std::size_t((b % n) * k_count)];
    double mean = 0;
    for (std::int64_t k = 0; k < k_count; ++k) mean += r[k] * dots[std::size_t(k * items + b)];
    for (std::int64_t k = 0; k < k_count; ++k)
      coefficients[std::size_t(k)][std::size_t(b)] = r[k] * (dots[std::size_t(k * items + b)] - mean);
  }
  for (std::int64_t k = 0; k < k_count; ++k) {
    const Tensor& direction = transpose ? lin->scores[std::size_t(k)] : lin->deviations[std::size_t(k)];
    const std::vector<double>& c = coefficients[std::size_t(k)];
    for (std::int64_t j = 0; j < items / n; ++j) {
      Tensor rows = out.slice(j * n, n);
      detail::add_scaled_rows(ctx, direction, std::vector<double>(c.begin() + j * n, c.begin() + (j + 1) * n), rows,
                              block_scratch);
    }
  }
}

void MixtureDenoiser::jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const {
  product(ctx, lin, v, jv, false);
  jvp_count += v.dim(0);
}

void MixtureDenoiser::vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const {
  product(ctx, lin, u, ju, true);
  vjp_count += u.dim(0);
}

void MixtureDenoiser::sample_prior(Context& ctx, std::uint64_t seed, Tensor& out) const {
  check_items(ctx, "out", out);
  std::int64_t n = out.dim(0), d = prior_.dim, k_count = prior_.components();
  Device dev = ctx.device();
  Tensor u = Tensor::empty({n, 1}, dev), z = Tensor::empty({n, d}, dev);
  fill_uniform(ctx, u, {seed, kChoiceStream}, 0.0f, 1.0f, n);
  fill_normal(ctx, z, {seed, 0}, 0.0f, 1.0f, n);
  std::vector<float> uniforms = u.to_vector<float>();
  std::vector<std::vector<double>> chosen(std::size_t(k_count), std::vector<double>(std::size_t(n), 0.0));
  for (std::int64_t i = 0; i < n; ++i) {
    double cumulative = 0;
    std::int64_t k = 0;
    for (; k < k_count - 1; ++k) {
      cumulative += prior_.weights[std::size_t(k)];
      if (uniforms[std::size_t(i)] < cumulative) break;
    }
    while (prior_.weights[std::size_t(k)] == 0 && k > 0) --k;  // never a zero-weight last component
    chosen[std::size_t(k)][std::size_t(i)] = 1.0;
  }
  Tensor scaled = Tensor::empty({n, d}, dev), draw = Tensor::empty({n, d}, dev);
  fill(ctx, out, 0.0f);
  for (std::int64_t k = 0; k < k_count; ++k) {
    if (std::find(chosen[std::size_t(k)].begin(), chosen[std::size_t(k)].end(), 1.0) == chosen[std::size_t(k)].end())
      continue;
    const Tensor& basis = bases_[std::size_t(k)];
    // mu_k + U_k diag(sqrt l_k) z: a draw of N(mu_k, S_k) for every item; the mask keeps the chosen ones.
    detail::scale_columns(ctx, z, roots_[std::size_t(k)], scaled);
    matmul(ctx, scaled, basis, draw);
    add_channel_vector(ctx, draw, means_[std::size_t(k)]);
    detail::add_scaled_rows(ctx, draw, chosen[std::size_t(k)], out, scaled);
  }
}

}  // namespace tweedie::samplers

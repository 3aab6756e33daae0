#include "samplers/posterior/laplace.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "runtime/error.h"
#include "samplers/gaussian_prior_matrix.h"
#include "samplers/linalg/cholesky.h"


namespace tweedie::samplers {
namespace {

std::vector<double> host_values(const Tensor& t) {
  std::vector<float> f = t.to(Device::cpu()).to_vector<float>();
  return {f.begin(), f.end()};
}

// The output's real values per item: complex entries are two.
std::int64_t real_outputs(const Operator& op) {
  return op.output().shape.numel() * (op.output().dtype == DType::c64 ? 2 : 1);
}

// A as a dense K x D matrix: the operator applied to the unit vectors, a block of them at a time.
std::vector<double> dense_operator(Context& ctx, const Operator& op, std::int64_t dim, std::int64_t outputs) {
  std::vector<double> a(static_cast<std::size_t>(outputs * dim));
  constexpr std::int64_t kBlock = 256;
  for (std::int64_t first = 0; first < dim; first += kBlock) {
    const std::int64_t n = std::min(kBlock, dim - first);
    std::vector<float> basis(static_cast<std::size_t>(n * dim), 0.0f);
    for (std::int64_t j = 0; j < n; ++j) basis[std::size_t(j * dim + first + j)] = 1;
    Tensor x = Tensor::from_host(std::span<const float>(basis), batched(n, op.input().shape), ctx.device());
    Tensor y = op.make_output(n, ctx.device());
    op.apply(ctx, x, y);
    std::vector<float> values = y.to(Device::cpu()).to_vector<float>();  // reads c64 as its float pairs
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t k = 0; k < outputs; ++k) a[std::size_t(k * dim + first + j)] = values[std::size_t(j * outputs + k)];
  }
  return a;
}

// K values per entry of the output item: each complex entry's value twice.
std::vector<double> per_real_output(const std::vector<double>& per_entry, const Operator& op) {
  const std::int64_t parts = op.output().dtype == DType::c64 ? 2 : 1;
  std::vector<double> out(per_entry.size() * std::size_t(parts));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = per_entry[i / std::size_t(parts)];
  return out;
}

}  // namespace

std::string laplace_unsupported(const GaussianDenoiser& prior, const Likelihood& likelihood) {
  const Operator& op = likelihood.op();
  CountModel count;
  Context probe(Device::cpu());
  if (!op.is_linear()) return cat("the operator '", op.describe(), "' is not linear");
  const std::int64_t dim = prior.item_shape().numel(), outputs = real_outputs(op);
  if (dim > kMaxLaplaceDim) return cat("the prior has ", dim, " unknowns, above the dense limit of ", kMaxLaplaceDim);
  if (outputs > kMaxLaplaceOutputs)
    return cat("the operator has ", outputs, " real outputs per item, above the dense limit of ", kMaxLaplaceOutputs);
  if (likelihood.noise().count_model(count)) return "";
  if (likelihood.noise().gaussian_variance(probe, op.output().shape).defined()) return "";
  if (likelihood.noise().gaussian_covariance())
    return cat("the noise model '", likelihood.noise().describe(), "' has correlated entries; the whitened problem takes a diagonal Sigma_y");
  return cat("the noise model '", likelihood.noise().describe(), "' is neither Gaussian nor a count model");
}

WhitenedProblem whitened_problem(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood,
                                 const std::string& where) {
  if (std::string why = laplace_unsupported(prior, likelihood); !why.empty())
    throw ArgumentError(cat(where, ": no Laplace approximation: ", why));
  const Operator& op = likelihood.op();
  WhitenedProblem p;
  p.dim = prior.item_shape().numel();
  p.outputs = real_outputs(op);
  p.prior_mean = prior.prior().mean;
  p.root = covariance_root(prior.prior());
  const std::vector<double> a = dense_operator(ctx, op, p.dim, p.outputs);
  p.design.assign(std::size_t(p.outputs * p.dim), 0.0);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(p.outputs), int(p.dim), int(p.dim), 1.0, a.data(), int(p.dim),
              p.root.data(), int(p.dim), 0.0, p.design.data(), int(p.dim));
  p.offset.assign(std::size_t(p.outputs), 0.0);
  cblas_dgemv(CblasRowMajor, CblasNoTrans, int(p.outputs), int(p.dim), 1.0, a.data(), int(p.dim), p.prior_mean.data(), 1, 0.0,
              p.offset.data(), 1);
  const Shape& item = op.output().shape;
  p.observed = op.observed().defined() ? per_real_output(host_values(op.observed()), op)
                                       : std::vector<double>(std::size_t(p.outputs), 1.0);
  CountModel count;
  if (likelihood.noise().count_model(count)) {
    p.noise = count.law.family == CountFamily::poisson ? WhitenedProblem::Noise::poisson : WhitenedProblem::Noise::binomial;
    p.law = count.law;
    p.parameter = count.trials.per_entry.defined() ? host_values(count.trials.per_entry)
                                                   : std::vector<double>(std::size_t(p.outputs), count.trials.value);
  } else {
    p.noise = WhitenedProblem::Noise::gaussian;
    p.parameter = per_real_output(host_values(likelihood.noise().gaussian_variance(ctx, item)), op);
  }
  return p;
}

EntryTerms entry_terms(const WhitenedProblem& p, std::int64_t k, double y, double z) {
  const double parameter = p.parameter[std::size_t(k)];
  switch (p.noise) {
    case WhitenedProblem::Noise::gaussian: return {(y - z) / parameter, 1 / parameter};
    case WhitenedProblem::Noise::poisson: {
      NewtonTerms t = count_newton_terms(y, 0.0, p.law, z, 0.0);
      RateLink link = p.law.link == CountLink::exp ? RateLink::exp : RateLink::softplus;
      return {poisson_score(y, link, p.law.scale, z), t.root_weight * t.root_weight};
    }
    case WhitenedProblem::Noise::binomial: {
      NewtonTerms t = count_newton_terms(y, parameter, p.law, z, 0.0);
      return {binomial_score(y, parameter, p.law.scale, z), t.root_weight * t.root_weight};
    }
  }
  return {};
}

double log_likelihood_kernel(const WhitenedProblem& p, const double* y, const double* z) {
  double sum = 0;
  for (std::int64_t k = 0; k < p.outputs; ++k) {
    if (p.observed[std::size_t(k)] == 0) continue;
    const double parameter = p.parameter[std::size_t(k)];
    switch (p.noise) {
      case WhitenedProblem::Noise::gaussian: sum -= 0.5 * (y[k] - z[k]) * (y[k] - z[k]) / parameter; break;
      case WhitenedProblem::Noise::poisson: {
        // y log(rate) - rate; for the exp link log(rate) = log s + z, exact where the rate underflows.
        double rate = p.law.link == CountLink::exp ? p.law.scale * std::exp(z[k]) : p.law.scale * softplus_d(z[k]);
        double log_rate = p.law.link == CountLink::exp ? std::log(p.law.scale) + z[k] : std::log(rate);
        sum += (y[k] > 0 ? y[k] * log_rate : 0.0) - rate;
        break;
      }
      case WhitenedProblem::Noise::binomial: {
        BinomialProbabilities b = binomial_probabilities(z[k], p.law.scale, std::log(p.law.scale));
        sum += (y[k] > 0 ? y[k] * b.log_p : 0.0) + (parameter - y[k] > 0 ? (parameter - y[k]) * b.log_q : 0.0);
        break;
      }
    }
  }
  return sum;
}

LaplaceFit fit_laplace(const WhitenedProblem& p, const double* y, int max_iterations) {
  const int d = int(p.dim), k = int(p.outputs);
  LaplaceFit fit;
  fit.mode.assign(std::size_t(d), 0.0);
  std::vector<double> z(static_cast<std::size_t>(k)), trial_w(static_cast<std::size_t>(d)), trial_z(static_cast<std::size_t>(k)), gradient(static_cast<std::size_t>(d));
  std::vector<double> score(static_cast<std::size_t>(k)), weighted(static_cast<std::size_t>(k) * std::size_t(d)), precision(static_cast<std::size_t>(d) * std::size_t(d));
  auto measurement = [&](const std::vector<double>& w, std::vector<double>& out) {
    out = p.offset;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, k, d, 1.0, p.design.data(), d, w.data(), 1, 1.0, out.data(), 1);
  };
  auto objective = [&](const std::vector<double>& w, const std::vector<double>& zw) {
    return log_likelihood_kernel(p, y, zw.data()) - 0.5 * cblas_ddot(d, w.data(), 1, w.data(), 1);
  };
  // P = I + B^T diag(h) B at w (lower triangle of the row-major array), factored in place
  // (linalg/cholesky.h); also the score at z.
  auto factor_precision = [&](const std::vector<double>& zw) {
    for (std::int64_t e = 0; e < p.outputs; ++e) {
      EntryTerms t = p.observed[std::size_t(e)] != 0 ? entry_terms(p, e, y[e], zw[std::size_t(e)]) : EntryTerms{};
      score[std::size_t(e)] = t.score;
      const double root = std::sqrt(t.weight);
      for (int j = 0; j < d; ++j) weighted[std::size_t(e) * std::size_t(d) + std::size_t(j)] = root * p.design[std::size_t(e) * std::size_t(d) + std::size_t(j)];
    }
    std::fill(precision.begin(), precision.end(), 0.0);
    for (int i = 0; i < d; ++i) precision[std::size_t(i) * std::size_t(d) + std::size_t(i)] = 1;
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, d, k, 1.0, weighted.data(), d, 1.0, precision.data(), d);
    if (const std::int64_t pivot = cholesky_in_place(precision, d); pivot >= 0)
      throw BackendError(cat("laplace: the Cholesky factorization of I + B^T H B failed at pivot ", pivot));
  };

  measurement(fit.mode, z);
  double value = objective(fit.mode, z);
  for (fit.iterations = 0; fit.iterations < max_iterations && !fit.converged; ++fit.iterations) {
    factor_precision(z);
    // gradient = B^T r - w; then the Newton direction P^-1 gradient.
    gradient = fit.mode;
    cblas_dgemv(CblasRowMajor, CblasTrans, k, d, 1.0, p.design.data(), d, score.data(), 1, -1.0, gradient.data(), 1);
    cholesky_solve(precision, d, gradient.data());
    // Backtracking: halve the step until the log posterior does not fall (the Newton step is an ascent
    // direction, so a small enough one rises unless w is already the mode to rounding).
    double step = 1, largest = 0;
    for (double g : gradient) largest = std::max(largest, std::abs(g));
    for (int halving = 0; halving < 60; ++halving, step *= 0.5) {
      for (int j = 0; j < d; ++j) trial_w[std::size_t(j)] = fit.mode[std::size_t(j)] + step * gradient[std::size_t(j)];
      measurement(trial_w, trial_z);
      double trial = objective(trial_w, trial_z);
      if (trial >= value || step * largest < 1e-12) {
        if (std::isfinite(trial) && trial >= value) fit.mode.swap(trial_w), z.swap(trial_z), value = trial;
        break;
      }
    }
    fit.converged = step * largest < 1e-9;
  }
  // P at the mode, its factor L (P = L L^T) as a row-major lower triangle.
  factor_precision(z);
  fit.cholesky = precision;
  for (int i = 0; i < d; ++i)
    for (int j = i + 1; j < d; ++j) fit.cholesky[std::size_t(i) * std::size_t(d) + std::size_t(j)] = 0;
  return fit;
}

}  // namespace tweedie::samplers

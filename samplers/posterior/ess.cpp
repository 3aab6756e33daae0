#include "samplers/posterior/ess.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "kernels/axpby.h"
#include "kernels/random.h"
#include "kernels/rows.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "samplers/posterior/laplace.h"

namespace tweedie::samplers {
namespace {

constexpr const char* kName = "ess";
using detail::kUniformKey;

// The two halves of each chain, as 2 * chains chains of half the length (an odd draw dropped).
std::vector<std::vector<double>> split_chains(const std::vector<double>& draws, int chains) {
  const std::size_t length = draws.size() / std::size_t(chains), half = length / 2;
  std::vector<std::vector<double>> out;
  for (int c = 0; c < chains; ++c) {
    const double* d = draws.data() + std::size_t(c) * length;
    out.emplace_back(d, d + half);
    out.emplace_back(d + length - half, d + length);
  }
  return out;
}

struct ChainMoments {
  std::vector<double> means, variances;
  double within = 0, total = 0;  // W and var+ of BDA3
};

ChainMoments chain_moments(const std::vector<std::vector<double>>& chains) {
  ChainMoments m;
  const double n = double(chains[0].size());
  double grand = 0;
  for (const auto& c : chains) {
    double mean = 0, var = 0;
    for (double x : c) mean += x;
    mean /= n;
    for (double x : c) var += (x - mean) * (x - mean);
    m.means.push_back(mean);
    m.variances.push_back(var / (n - 1));
    grand += mean;
  }
  const double k = double(chains.size());
  grand /= k;
  double between = 0;
  for (double mean : m.means) between += (mean - grand) * (mean - grand);
  between *= n / (k - 1);
  for (double v : m.variances) m.within += v;
  m.within /= k;
  m.total = (n - 1) / n * m.within + between / n;
  return m;
}

}  // namespace

double split_rhat(const std::vector<double>& draws, int chains) {
  auto split = split_chains(draws, chains);
  if (split[0].size() < 2) return NAN;
  ChainMoments m = chain_moments(split);
  if (m.within <= 0) return m.total <= 0 ? 1.0 : INFINITY;
  return std::sqrt(m.total / m.within);
}

double effective_sample_size(const std::vector<double>& draws, int chains) {
  auto split = split_chains(draws, chains);
  const std::size_t n = split[0].size();
  if (n < 4) return NAN;
  ChainMoments m = chain_moments(split);
  const double k = double(split.size());
  if (m.total <= 0) return k * double(n);
  // rho_t = 1 - (W - mean_c autocov_c(t)) / var+, summed in pairs while the pair sums stay positive
  // (Geyer), each pair held to at most the one before (the initial monotone sequence).
  auto rho = [&](std::size_t lag) {
    double acov = 0;
    for (std::size_t c = 0; c < split.size(); ++c) {
      const auto& x = split[c];
      double s = 0;
      for (std::size_t i = 0; i + lag < n; ++i) s += (x[i] - m.means[c]) * (x[i + lag] - m.means[c]);
      acov += s / double(n);
    }
    acov /= k;
    return 1 - (m.within * (double(n) - 1) / double(n) - acov) / m.total;
  };
  double sum = 0, previous = INFINITY;
  for (std::size_t lag = 0; lag + 1 < n; lag += 2) {
    double pair = rho(lag) + rho(lag + 1);
    if (pair <= 0) break;
    pair = std::min(pair, previous);
    previous = pair;
    sum += pair;
  }
  // sum over pairs = rho_0 + 2 sum_{t >= 1} rho_t + ... ; tau = -1 + 2 sum.
  double tau = std::max(-1 + 2 * sum, 1.0 / std::log10(k * double(n)));
  return k * double(n) / tau;
}

const char* ellipse_name(EssEllipse e) {
  switch (e) {
    case EssEllipse::automatic: return "auto";
    case EssEllipse::prior: return "prior";
    case EssEllipse::laplace: return "laplace";
  }
  return "?";
}

EssEllipse parse_ellipse(const std::string& s) {
  for (EssEllipse e : {EssEllipse::automatic, EssEllipse::prior, EssEllipse::laplace})
    if (s == ellipse_name(e)) return e;
  throw ArgumentError(cat("unknown ellipse '", s, "' (expected auto, prior or laplace)"));
}

void check_ess_options(const EssOptions& o) {
  if (o.chains < 1 || o.iterations < 1 || o.burn_in < 0 || o.burn_in >= o.iterations || o.thin < 1 || o.max_shrinks < 1)
    throw ArgumentError(cat(kName, ": need chains >= 1, iterations > burn-in >= 0, thin >= 1 (got chains ", o.chains,
                            ", iterations ", o.iterations, ", burn-in ", o.burn_in, ", thin ", o.thin, ")"));
}

EssEllipse resolve_ellipse(EssEllipse requested, const GaussianDenoiser& prior, const Likelihood& likelihood) {
  if (requested != EssEllipse::automatic) return requested;
  return laplace_unsupported(prior, likelihood).empty() ? EssEllipse::laplace : EssEllipse::prior;
}

Tensor elliptical_slice_sampling(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood, const Tensor& y,
                                 const EssOptions& o, std::uint64_t seed, EssReport* report) {
  check_ess_options(o);
  const Operator& op = likelihood.op();
  if (op.input().dtype != DType::f32 || op.input().shape != prior.item_shape())
    throw ShapeError(cat(kName, ": the operator takes ", op.input().str(), " but the prior's items are ", prior.item_shape().str(), " f32"));
  op.batch_of_output(ctx, y);
  likelihood.validate(ctx, y, "ess: y");
  const EssEllipse ellipse = resolve_ellipse(o.ellipse, prior, likelihood);
  // The Laplace ellipse's sampler refuses, with the reason, problems that have no Laplace approximation.
  if (ellipse == EssEllipse::laplace) return detail::laplace_ellipse_sampling(ctx, prior, likelihood, y, o, seed, report);
  return detail::prior_ellipse_sampling(ctx, prior, likelihood, y, o, seed, report);
}

namespace detail {

Tensor prior_ellipse_sampling(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood, const Tensor& y,
                              const EssOptions& o, std::uint64_t seed, EssReport* report) {
  const Operator& op = likelihood.op();
  const std::int64_t m = op.batch_of_output(ctx, y), c = o.chains, b = m * c;
  const Device dev = ctx.device();
  const std::int64_t kept = (o.iterations - o.burn_in + o.thin - 1) / o.thin;

  // y once per chain: chain j of observation i is row i * chains + j.
  Tensor yb = op.make_output(b, dev);
  const std::size_t y_item = std::size_t(y.nbytes() / m);
  for (std::int64_t r = 0; r < b; ++r)
    copy_bytes(static_cast<char*>(yb.raw_data()) + r * y_item, dev, static_cast<const char*>(y.raw_data()) + (r / c) * y_item, dev, y_item);
  // The prior mean m in every row.
  std::vector<float> mean_host(std::size_t(b * prior.item_shape().numel()));
  const std::vector<double>& mu = prior.prior().mean;
  for (std::size_t i = 0; i < mean_host.size(); ++i) mean_host[i] = float(mu[i % mu.size()]);
  Tensor mean_rows = Tensor::from_host(std::span<const float>(mean_host), batched(b, prior.item_shape()), dev);

  Tensor x = op.make_input(b, dev), nu = op.make_input(b, dev), proposal = op.make_input(b, dev);
  prior.sample_prior(ctx, seed, x);
  std::vector<double> log_l = likelihood.log_likelihood(ctx, yb, x);
  std::int64_t evaluations = b, shrinks = 0, stuck = 0;

  Tensor out = Tensor::empty(batched(m * c * kept, prior.item_shape()), dev);
  const std::size_t x_item = std::size_t(x.nbytes() / b);
  const double two_pi = 2 * std::numbers::pi;
  auto uniform = [&](std::int64_t chain, std::uint64_t index) {
    return std::max(double(uniform_at(seed ^ kUniformKey, std::uint64_t(chain), index)), 1e-12);
  };
  const std::size_t rows = std::size_t(b);
  std::vector<double> level(rows), theta(rows), lo(rows), hi(rows), ca(rows), sa(rows), ma(rows), accept(rows), keep(rows);
  for (int it = 0; it < o.iterations; ++it) {
    prior.sample_prior(ctx, seed + 1 + std::uint64_t(it), nu);
    const std::uint64_t base = std::uint64_t(it) * std::uint64_t(o.max_shrinks + 2);
    std::vector<bool> active(std::size_t(b), true);
    for (std::int64_t r = 0; r < b; ++r) {
      level[r] = log_l[r] + std::log(uniform(r, base));
      theta[r] = two_pi * uniform(r, base + 1);
      lo[r] = theta[r] - two_pi, hi[r] = theta[r];
    }
    for (int attempt = 0; attempt < o.max_shrinks; ++attempt) {
      // proposal = m + (x - m) cos + (nu - m) sin = cos x + sin nu + (1 - cos - sin) m.
      for (std::int64_t r = 0; r < b; ++r) {
        ca[r] = std::cos(theta[r]), sa[r] = std::sin(theta[r]);
        ma[r] = 1 - ca[r] - sa[r];
      }
      fill(ctx, proposal, 0.0f);
      axpy_rows(ctx, ma, mean_rows, proposal);
      axpy_rows(ctx, ca, x, proposal);
      axpy_rows(ctx, sa, nu, proposal);
      std::vector<double> ll = likelihood.log_likelihood(ctx, yb, proposal);
      evaluations += b;
      bool pending = false;
      for (std::int64_t r = 0; r < b; ++r) {
        accept[r] = 0, keep[r] = 1;
        if (!active[r]) continue;
        if (ll[r] > level[r]) {
          active[r] = false, accept[r] = 1, keep[r] = 0, log_l[r] = ll[r];
          continue;
        }
        ++shrinks;
        (theta[r] < 0 ? lo[r] : hi[r]) = theta[r];
        theta[r] = lo[r] + (hi[r] - lo[r]) * uniform(r, base + 2 + std::uint64_t(attempt));
        pending = true;
      }
      axpby_rows(ctx, accept, proposal, keep, x);
      if (!pending) break;
      if (attempt + 1 == o.max_shrinks)
        for (std::int64_t r = 0; r < b; ++r) stuck += active[r] ? 1 : 0;
    }
    if (it >= o.burn_in && (it - o.burn_in) % o.thin == 0) {
      const std::int64_t k = (it - o.burn_in) / o.thin;
      for (std::int64_t r = 0; r < b; ++r)
        copy_bytes(static_cast<char*>(out.raw_data()) + (r * kept + k) * x_item, dev,
                   static_cast<const char*>(x.raw_data()) + r * x_item, dev, x_item);
    }
  }

  if (report) {
    fill_diagnostics(out, m, int(c), *report);
    report->shrinks_per_iteration = double(shrinks) / double(b * o.iterations);
    report->likelihood_evaluations = evaluations;
    report->stuck_iterations = stuck;
    report->ellipse = EssEllipse::prior;
  }
  return out;
}

void fill_diagnostics(const Tensor& out, std::int64_t m, int chains, EssReport& report) {
  report.rhat.assign(std::size_t(m), 0.0);
  report.ess.assign(std::size_t(m), INFINITY);
  const std::int64_t per_chain = out.dim(0) / (m * chains), d = out.numel() / out.dim(0);
  std::vector<float> host = out.to(Device::cpu()).to_vector<float>();
  std::vector<double> draws(std::size_t(chains * per_chain));
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t e = 0; e < d; ++e) {
      for (std::int64_t j = 0; j < chains * per_chain; ++j) draws[std::size_t(j)] = host[std::size_t((i * chains * per_chain + j) * d + e)];
      report.rhat[std::size_t(i)] = std::max(report.rhat[std::size_t(i)], split_rhat(draws, chains));
      report.ess[std::size_t(i)] = std::min(report.ess[std::size_t(i)], effective_sample_size(draws, chains));
    }
  }
}

}  // namespace detail

}  // namespace tweedie::samplers

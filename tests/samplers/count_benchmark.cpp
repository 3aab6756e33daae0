#include "samplers/count_benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "runtime/error.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/count_posterior.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/ess.h"
#include "samplers/posterior/inference_network.h"
#include "samplers/training/conjugate_training.h"
#include "nn/init.h"
#include "nn/mlp.h"
#include "nn/registry.h"
#include "samplers/process.h"
#include "samplers/sampler.h"
#include "support.h"

namespace tweedie::test {
namespace {

using namespace samplers;
using Matrix = std::vector<double>;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Squared-exponential kernel on a uniform grid of [0, 1] or [0, 1]^2, unit variance, with 1e-4 added on
// the diagonal.
GaussianPrior gp_prior(const CountSetting& s) {
  const std::int64_t n = points_of(s);
  GaussianPrior p;
  p.kind = GaussianPrior::Covariance::dense;
  p.item_shape = s.side > 0 ? Shape{1, s.side, s.side} : Shape{n};
  p.mean.assign(std::size_t(n), 0.0);
  p.cov.resize(std::size_t(n * n));
  const double spacing = 1.0 / double((s.side > 0 ? s.side : s.points) - 1);
  auto coordinates = [&](std::int64_t i) {
    return s.side > 0 ? std::pair{double(i / s.side), double(i % s.side)} : std::pair{double(i), 0.0};
  };
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      auto [a1, a2] = coordinates(i);
      auto [b1, b2] = coordinates(j);
      double d1 = (a1 - b1) * spacing / s.length, d2 = (a2 - b2) * spacing / s.length;
      p.cov[std::size_t(i * n + j)] = std::exp(-0.5 * (d1 * d1 + d2 * d2)) + (i == j ? 1e-4 : 0.0);
    }
  return p;
}

// Which sites are measured and each site's number of trials: drawn once per setting from its seed.
struct Design {
  std::vector<double> observed, trials;
};

Design design_of(const CountSetting& s) {
  const std::int64_t n = points_of(s);
  Design d;
  d.observed.assign(std::size_t(n), 1.0);
  d.trials.assign(std::size_t(n), double(s.trials));
  if (s.observed < 1) {
    std::vector<double> u = uniform(std::size_t(n), s.seed + 31, 0, 1);
    for (std::int64_t i = 0; i < n; ++i) d.observed[std::size_t(i)] = u[std::size_t(i)] < s.observed ? 1.0 : 0.0;
  }
  if (s.trials_max > s.trials) {
    std::vector<double> u = uniform(std::size_t(n), s.seed + 37, 0, 1);
    for (std::int64_t i = 0; i < n; ++i)
      d.trials[std::size_t(i)] = double(s.trials + std::min<std::int64_t>(std::int64_t(u[std::size_t(i)] * (s.trials_max - s.trials + 1)), s.trials_max - s.trials));
  }
  return d;
}

std::shared_ptr<const NoiseModel> noise_of(const CountSetting& s, const Design& d, const Shape& item) {
  if (s.family == "poisson") return make_poisson_noise(s.scale, Link::exp);
  if (s.trials_max <= s.trials) return make_binomial_noise(s.trials, 1.0);
  return make_binomial_noise(upload(d.trials, item), 1.0, "binomial:n=sites", device());
}

std::shared_ptr<const Operator> operator_of(const CountSetting& s, const Design& d, const Signal& in) {
  if (s.observed >= 1) return make_identity(in);
  return make_mask(in, upload(d.observed, in.shape), "survey sites", device());
}

// One answer per problem and entry: mean, sd and the central 90% interval.
struct Answer {
  std::vector<double> mean, sd, lo, hi;
};

double quantile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  double at = q * double(v.size() - 1);
  std::size_t i = std::size_t(at);
  double f = at - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

// samples: (problems, per, n) as floats.
Answer from_samples(const std::vector<double>& s, std::int64_t problems, std::int64_t per, std::int64_t n) {
  Answer a;
  std::vector<double> column(static_cast<std::size_t>(per));
  for (std::int64_t p = 0; p < problems; ++p)
    for (std::int64_t e = 0; e < n; ++e) {
      double m = 0, v = 0;
      for (std::int64_t k = 0; k < per; ++k) column[std::size_t(k)] = s[std::size_t((p * per + k) * n + e)], m += column[std::size_t(k)];
      m /= double(per);
      for (double x : column) v += (x - m) * (x - m);
      a.mean.push_back(m);
      a.sd.push_back(std::sqrt(v / double(per - 1)));
      a.lo.push_back(quantile(column, 0.05));
      a.hi.push_back(quantile(column, 0.95));
    }
  return a;
}

Answer gaussian_answer(std::vector<double> mean, std::vector<double> sd) {
  Answer a;
  for (std::size_t i = 0; i < mean.size(); ++i) a.lo.push_back(mean[i] - 1.6448536269514722 * sd[i]), a.hi.push_back(mean[i] + 1.6448536269514722 * sd[i]);
  a.mean = std::move(mean), a.sd = std::move(sd);
  return a;
}

struct Reference {
  Answer answer;
  std::vector<double> draws;  // (problems, per, n)
  std::int64_t per = 0;
  double rhat = 0, ess = 0, seconds = 0;
};

Reference mcmc(Context& ctx, const GaussianDenoiser& prior, const Likelihood& lik, const Tensor& y, const CountSetting& s) {
  EssOptions o;
  o.chains = 4;
  o.iterations = s.mcmc_iterations;
  o.burn_in = s.mcmc_iterations / 4;
  o.thin = s.mcmc_thin;
  EssReport report;
  auto start = std::chrono::steady_clock::now();
  Reference r;
  r.draws = download(elliptical_slice_sampling(ctx, prior, lik, y, o, s.seed + 101, &report));
  r.seconds = seconds_since(start);
  const std::int64_t problems = y.dim(0);
  r.per = std::int64_t(r.draws.size()) / (problems * points_of(s));
  r.answer = from_samples(r.draws, problems, r.per, points_of(s));
  r.rhat = *std::max_element(report.rhat.begin(), report.rhat.end());
  r.ess = *std::min_element(report.ess.begin(), report.ess.end());
  return r;
}

// The three scores of count_benchmark.h, per problem (mean error) and averaged (spread, coverage).
MethodScore score(const std::string& method, const Reference& ref, const Answer& a, std::int64_t problems, std::int64_t n) {
  MethodScore s;
  s.method = method;
  std::vector<double> errors;
  for (std::int64_t p = 0; p < problems; ++p) {
    double err = 0, spread = 0, cover = 0;
    for (std::int64_t e = 0; e < n; ++e) {
      const std::size_t i = std::size_t(p * n + e);
      err += std::abs(a.mean[i] - ref.answer.mean[i]) / ref.answer.sd[i];
      spread += a.sd[i] / ref.answer.sd[i];
      std::int64_t inside = 0;
      for (std::int64_t k = 0; k < ref.per; ++k) {
        double d = ref.draws[std::size_t((p * ref.per + k) * n + e)];
        inside += d >= a.lo[i] && d <= a.hi[i];
      }
      cover += double(inside) / double(ref.per);
    }
    errors.push_back(err / double(n));
    s.spread += spread / double(n * problems);
    s.coverage += cover / double(n * problems);
  }
  for (double e : errors) s.mean_error += e / double(problems);
  double var = 0;
  for (double e : errors) var += (e - s.mean_error) * (e - s.mean_error);
  s.mean_error_se = problems > 1 ? std::sqrt(var / double(problems - 1) / double(problems)) : 0.0;
  return s;
}

// Each problem's y repeated `per` times: (problems * per, n).
Tensor repeat_rows(const Tensor& y, std::int64_t per) {
  std::vector<double> h = download(y), out;
  const std::int64_t problems = y.dim(0), n = y.numel() / problems;
  for (std::int64_t p = 0; p < problems; ++p)
    for (std::int64_t k = 0; k < per; ++k) out.insert(out.end(), h.begin() + p * n, h.begin() + (p + 1) * n);
  std::vector<std::int64_t> dims(y.shape().dims().begin(), y.shape().dims().end());
  dims[0] = problems * per;
  return upload(out, Shape(std::span<const std::int64_t>(dims)));
}

struct Problems {
  Tensor y;
  std::vector<double> yh;
};

Problems draw_problems(Context& ctx, const GaussianDenoiser& prior, const Likelihood& lik, std::int64_t count, std::uint64_t seed) {
  Tensor f = Tensor::empty(batched(count, prior.item_shape()), device());
  prior.sample_prior(ctx, seed, f);
  Tensor y = lik.op().make_output(count, device());
  lik.simulate(ctx, f, {seed + 7, 0}, y);
  return {y, download(y)};
}

// Log-likelihood gradient and negative Hessian (diagonal) in f.
void likelihood_terms(const CountSetting& s, double trials, double y, double f, double& g, double& w) {
  if (s.family == "poisson") {
    double rate = s.scale * std::exp(f);
    g = y - rate, w = rate;
  } else {
    double p = 1 / (1 + std::exp(-f));
    g = y - trials * p, w = trials * p * (1 - p);
  }
}

// MAP by Newton's method in double, with the Laplace approximation's sd: (S^-1 + W)^-1 at the MAP.
Answer map_laplace(const CountSetting& s, const Design& design, const GaussianPrior& gp, const std::vector<double>& y, std::int64_t problems) {
  const std::int64_t n = points_of(s);
  Matrix eye(std::size_t(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) eye[std::size_t(i * n + i)] = 1;
  const Matrix precision = solve_dense(gp.cov, eye, n, n);
  std::vector<double> mean, sd;
  for (std::int64_t p = 0; p < problems; ++p) {
    std::vector<double> f(std::size_t(n), 0.0), g(static_cast<std::size_t>(n)), w(static_cast<std::size_t>(n));
    Matrix h;
    for (int it = 0; it < 50; ++it) {
      std::vector<double> pf = multiply_dense(precision, f, n, n, 1);
      h = precision;
      for (std::int64_t i = 0; i < n; ++i) {
        likelihood_terms(s, design.trials[std::size_t(i)], y[std::size_t(p * n + i)], f[std::size_t(i)], g[std::size_t(i)], w[std::size_t(i)]);
        g[std::size_t(i)] *= design.observed[std::size_t(i)], w[std::size_t(i)] *= design.observed[std::size_t(i)];
        g[std::size_t(i)] -= pf[std::size_t(i)];
        h[std::size_t(i * n + i)] += w[std::size_t(i)];
      }
      std::vector<double> step = solve_dense(h, g, n, 1);
      double size = 0;
      for (std::int64_t i = 0; i < n; ++i) f[std::size_t(i)] += step[std::size_t(i)], size = std::max(size, std::abs(step[std::size_t(i)]));
      if (size < 1e-10) break;
    }
    Matrix cov = solve_dense(h, eye, n, n);
    for (std::int64_t i = 0; i < n; ++i) mean.push_back(f[std::size_t(i)]), sd.push_back(std::sqrt(cov[std::size_t(i * n + i)]));
  }
  return gaussian_answer(mean, sd);
}

// Fixed Gaussian pseudo-data in f: Poisson log((y + 1/2) / s) with variance 1 / (y + 1/2); Binomial
// logit((y + 1/2) / (n + 1)) with variance (n + 1) / ((y + 1/2) (n - y + 1/2)) (the delta method with
// half-count smoothing). With the GP prior the posterior is then Gaussian in closed form.
Answer gaussian_pseudo_data(const CountSetting& s, const Design& design, const GaussianPrior& gp, const std::vector<double>& y,
                            std::int64_t problems) {
  const std::int64_t n = points_of(s);
  std::vector<double> mean, sd;
  for (std::int64_t p = 0; p < problems; ++p) {
    std::vector<double> z(static_cast<std::size_t>(n)), r(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      double k = y[std::size_t(p * n + i)];
      if (s.family == "poisson") {
        z[std::size_t(i)] = std::log((k + 0.5) / s.scale), r[std::size_t(i)] = 1 / (k + 0.5);
      } else {
        double t = design.trials[std::size_t(i)];
        z[std::size_t(i)] = std::log((k + 0.5) / (t - k + 0.5)), r[std::size_t(i)] = (t + 1) / ((k + 0.5) * (t - k + 0.5));
      }
      if (design.observed[std::size_t(i)] == 0) z[std::size_t(i)] = 0, r[std::size_t(i)] = 1e12;  // no datum there
    }
    Matrix g = gp.cov;
    for (std::int64_t i = 0; i < n; ++i) g[std::size_t(i * n + i)] += r[std::size_t(i)];
    std::vector<double> w = solve_dense(g, z, n, 1);
    Matrix gs = solve_dense(g, gp.cov, n, n);
    for (std::int64_t i = 0; i < n; ++i) {
      double m = 0, v = gp.cov[std::size_t(i * n + i)];
      for (std::int64_t j = 0; j < n; ++j) m += gp.cov[std::size_t(i * n + j)] * w[std::size_t(j)], v -= gp.cov[std::size_t(i * n + j)] * gs[std::size_t(j * n + i)];
      mean.push_back(m), sd.push_back(std::sqrt(std::max(v, 0.0)));
    }
  }
  return gaussian_answer(mean, sd);
}

SamplerOptions sampler_of(const CountSetting& s) {
  SamplerOptions o;
  o.kind = "ddpm";
  o.steps = s.steps;
  return o;
}

struct Diffusion {
  std::string name;
  CountPosteriorOptions options;
  double calls_per_step;  // as a network prior would pay them
};

}  // namespace

CountBenchmark run_count_benchmark(const CountSetting& s) {
  Context& ctx = context();
  const std::int64_t n = points_of(s), problems = s.problems, per = s.samples;
  const GaussianPrior gp = gp_prior(s);
  const Design design = design_of(s);
  auto prior = std::make_shared<GaussianDenoiser>(gp, process_from_spec("vp", "benchmark"), device());
  const Signal in{gp.item_shape, DType::f32};
  std::shared_ptr<const Operator> op = operator_of(s, design, in);
  std::shared_ptr<const NoiseModel> noise = noise_of(s, design, in.shape);
  const Likelihood lik(op, noise);
  CountBenchmark out;

  const Problems test = draw_problems(ctx, *prior, lik, problems, s.seed);
  const Reference ref = mcmc(ctx, *prior, lik, test.y, s);
  out.mcmc_rhat = ref.rhat, out.mcmc_ess = ref.ess, out.mcmc_seconds = ref.seconds;
  const Tensor y_rep = repeat_rows(test.y, per);
  const SamplerOptions sampler = sampler_of(s);

  // A method that diverges (a NaN or Inf stops sampling) is reported as such, not scored.
  auto timed = [&](const std::string& name, double calls, auto&& run) {
    auto start = std::chrono::steady_clock::now();
    MethodScore m;
    try {
      m = score(name, ref, run(), problems, n);
    } catch (const NumericError& e) {
      m.method = name, m.failure = e.what();
      m.mean_error = m.spread = m.coverage = NAN;
    }
    m.seconds = seconds_since(start);
    m.calls = calls;
    out.methods.push_back(m);
  };
  auto diffusion = [&](const CountPosteriorOptions& o) {
    auto post = make_count_posterior(prior, op, noise, y_rep, o);
    Tensor x = sample(ctx, *post, sampler, problems * per, s.seed + 13);
    return from_samples(download(x), problems, per, n);
  };
  const int cg = 10;
  double measured = 0;  // what an exact variance costs: one covariance product per measured entry
  for (double o : design.observed) measured += o;
  std::vector<Diffusion> runs;
  {
    CountPosteriorOptions o;
    o.krylov = {.max_iterations = cg, .tolerance = 1e-6};
    o.method = "mmps", o.variance = "exact";
    runs.push_back({"mmps for counts, exact variance", o, 1.0 + measured + cg});
    o.variance = "heuristic";
    runs.push_back({"mmps for counts, heuristic variance", o, 1.0 + cg});
    o.method = "evidence", o.variance = "exact";
    runs.push_back({"evidence, exact variance", o, 1.0 + measured + 1});
    o.variance = "heuristic";
    runs.push_back({"evidence, heuristic variance", o, 2.0});
    o.clip = 10;
    runs.push_back({"evidence, heuristic variance, clip 10", o, 2.0});
    o.clip = 0, o.variance = "none";
    runs.push_back({"evidence with v = 0 (plug-in)", o, 2.0});
  }
  for (const Diffusion& d : runs) timed(d.name, d.calls_per_step * s.steps + 1, [&] { return diffusion(d.options); });

  // The paper's inference network, trained here on 16384 prior draws (and scored on 1024 more); a step
  // costs a prior forward, a forward and a VJP of the network.
  if (s.inference_steps > 0) {
    auto start = std::chrono::steady_clock::now();
    CountModel count;
    noise->count_model(count);
    InferenceSpec spec;
    spec.law = count.law, spec.process = "vp", spec.item = gp.item_shape, spec.outputs = n;
    spec.operator_description = op->describe(), spec.noise_description = noise->describe();
    nn::MlpConfig c;
    c.dim = n, c.hidden = s.inference_hidden, c.depth = 3, c.emb_dim = 32, c.out_dim = 2 * n;
    std::shared_ptr<nn::Network> mlp = nn::make_network("mlp", c.to_json(), device(), "benchmark");
    nn::initialize_parameters(ctx, *mlp, s.seed + 61);
    auto network = std::make_shared<InferenceNetwork>(mlp, spec, "benchmark");
    Tensor draws = Tensor::empty(batched(16384, gp.item_shape), device()), held = Tensor::empty(batched(1024, gp.item_shape), device());
    prior->sample_prior(ctx, s.seed + 71, draws);
    prior->sample_prior(ctx, s.seed + 73, held);
    ConjugateTrainOptions o;
    o.batch = 256, o.seed = s.seed + 79, o.ema = 0.995;
    o.adam.lr = 1e-3, o.adam.decay = "cosine", o.adam.total_steps = s.inference_steps, o.adam.warmup = 100;
    ConjugateTrainer trainer(network, draws.to(Device::cpu()), op, o);
    for (int k = 0; k < s.inference_steps; ++k) trainer.step(ctx);
    out.inference_loss = trainer.validate(ctx, held.to(Device::cpu()));
    trainer.swap_ema();
    out.inference_seconds = seconds_since(start);
    CountPosteriorOptions e;
    e.method = "evidence", e.inference = network;
    timed("evidence, inference network", 3.0 * s.steps + 1, [&] { return diffusion(e); });
  }

  // DPS with its step size tuned on 4 held-out problems (their own MCMC reference).
  {
    const std::int64_t tune = 4;
    const Problems held = draw_problems(ctx, *prior, lik, tune, s.seed + 5000);
    const Reference held_ref = mcmc(ctx, *prior, lik, held.y, s);
    const Tensor held_rep = repeat_rows(held.y, per);
    double best = INFINITY;
    for (double zeta : {0.03, 0.1, 0.3, 1.0, 3.0, 10.0}) {
      DpsOptions o{zeta};
      double err = INFINITY;
      try {
        Tensor x = sample_dps(ctx, *prior, lik, held_rep, o, sampler, tune * per, s.seed + 17);
        err = score("dps", held_ref, from_samples(download(x), tune, per, n), tune, n).mean_error;
      } catch (const NumericError&) {  // this step size diverges
      }
      if (err < best) best = err, out.dps_zeta = zeta;
    }
    timed("dps, held-out zeta", 2.0 * s.steps + 1, [&] {
      Tensor x = sample_dps(ctx, *prior, lik, y_rep, DpsOptions{out.dps_zeta}, sampler, problems * per, s.seed + 19);
      return from_samples(download(x), problems, per, n);
    });
  }
  timed("gaussian pseudo-data, exact posterior", 0, [&] { return gaussian_pseudo_data(s, design, gp, test.yh, problems); });
  timed("map + laplace", 0, [&] { return map_laplace(s, design, gp, test.yh, problems); });
  return out;
}

std::int64_t points_of(const CountSetting& s) { return s.side > 0 ? std::int64_t(s.side) * s.side : s.points; }

const MethodScore& score_of(const CountBenchmark& b, const std::string& method) {
  for (const MethodScore& m : b.methods)
    if (m.method == method) return m;
  throw std::runtime_error("no method " + method);
}

std::string count_benchmark_table(const CountSetting& s, const CountBenchmark& b) {
  char line[512];
  std::string t;
  std::string law = s.family == "poisson" ? "s = " + std::to_string(s.scale)
                                          : "trials " + std::to_string(s.trials) + (s.trials_max > s.trials ? ".." + std::to_string(s.trials_max) : "");
  std::string where = s.side > 0 ? std::to_string(s.side) + " x " + std::to_string(s.side) + " grid" : "n = " + std::to_string(s.points);
  if (s.observed < 1) where += ", " + std::to_string(int(std::lround(100 * s.observed))) + "% of sites measured";
  std::snprintf(line, sizeof line,
                "\n%s, %s; %s, length %.2f, %d problems, %d samples, ddpm %d steps; MCMC 4 x %d, thin %d (worst R-hat %.4f, "
                "min ESS %.0f, %.1f s); DPS zeta %.3g\n\n",
                s.family.c_str(), law.c_str(), where.c_str(), s.length, s.problems, s.samples, s.steps, s.mcmc_iterations, s.mcmc_thin,
                b.mcmc_rhat, b.mcmc_ess, b.mcmc_seconds, b.dps_zeta);
  t += line;
  if (s.inference_steps > 0) {
    std::snprintf(line, sizeof line, "Inference network: MLP width %d, depth 3, %d steps of 256 (%.0f s), held-out loss %.3f per entry.\n\n",
                  s.inference_hidden, s.inference_steps, b.inference_seconds, b.inference_loss);
    t += line;
  }
  t += "| method | mean error (sd*) | spread | 90% coverage | calls per sample | seconds |\n| --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const MethodScore& m : b.methods) {
    if (!m.failure.empty()) {
      // "sampling stopped at step k/K (t = ...) of samples a-b: STAGE gave nan for ..." -> "step k/K, STAGE"
      const std::string& f = m.failure;
      std::size_t at = f.find("step "), to = f.find(" (t"), stage = f.find(": "), gave = f.find(" gave");
      std::string why = at != std::string::npos && to != std::string::npos && stage != std::string::npos && gave != std::string::npos
                            ? f.substr(at, to - at) + ", " + f.substr(stage + 2, gave - stage - 2) + " not finite"
                            : f.substr(0, 80);
      std::snprintf(line, sizeof line, "| %s | diverged: %s | | | %.0f | %.2f |\n", m.method.c_str(), why.c_str(), m.calls, m.seconds);
      t += line;
      continue;
    }
    std::snprintf(line, sizeof line, "| %s | %.3f +- %.3f | %.3f | %.3f | %.0f | %.2f |\n", m.method.c_str(), m.mean_error, m.mean_error_se,
                  m.spread, m.coverage, m.calls, m.seconds);
    t += line;
  }
  return t;
}

}  // namespace tweedie::test

// RMP on Gaussian-mixture posteriors (the two families of test_posterior_mixture.cpp: "ring", few broad
// overlapping components; "grid", 25 well-separated ones) against the exact posterior mean, next to
// the means of MMPS and DPS samples at equal network calls. Error: the root-mean-square distance to
// E[x | y] over the coordinates, in units of the posterior's root-mean-square standard deviation
// sqrt(tr Cov[x | y] / d), averaged over 4 instances.
//
// Budgets: 25 DDPM steps per sample cost about 50 calls with MMPS k = 1 (a linearization and a JVP per
// step) or DPS (a forward and a VJP), so N samples cost 50 N; RMP over MMPS k = 1 with T = 25 N, T_in = 1
// costs 2 (T + 2). RMP over the exact posterior denoiser (the conditioned mixture) shows the bias of
// mean propagation itself; E[f(x)] != f(E[x]) where the conditional means bend.
// TWEEDIE_PRINT_TABLES=1 prints the table of the README.
#include <cmath>
#include <cstdio>

#include "samplers/mixture_fixtures.h"
#include "samplers/mixture_problems.h"
#include "samplers/noise/likelihood.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/mmps.h"
#include "samplers/posterior/rmp.h"
#include "samplers/processes.h"
#include "samplers/sampler.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using namespace tweedie::test;

namespace {

std::int64_t network_calls(const Denoiser& d) { return d.forward_count + d.jvp_count + d.vjp_count; }

// E[x | y] and sqrt(tr Cov[x | y] / d) of a mixture.
struct Moments {
  std::vector<double> mean;
  double sd = 0;
};
Moments moments(const MixturePrior& q) {
  const std::size_t d = std::size_t(q.dim);
  Moments m;
  m.mean.assign(d, 0.0);
  for (std::size_t k = 0; k < q.weights.size(); ++k)
    for (std::size_t i = 0; i < d; ++i) m.mean[i] += q.weights[k] * q.means[k * d + i];
  double trace = 0;
  for (std::size_t k = 0; k < q.weights.size(); ++k)
    for (std::size_t i = 0; i < d; ++i) {
      const double dev = q.means[k * d + i] - m.mean[i];
      trace += q.weights[k] * (q.covs[k * d * d + i * d + i] + dev * dev);
    }
  m.sd = std::sqrt(trace / double(d));
  return m;
}

// The error of the average of the rows of x (n, d) against E[x | y].
double mean_error(const std::vector<double>& x, const Moments& truth) {
  const std::size_t d = truth.mean.size(), n = x.size() / d;
  double e = 0;
  for (std::size_t i = 0; i < d; ++i) {
    double avg = 0;
    for (std::size_t r = 0; r < n; ++r) avg += x[r * d + i] / double(n);
    e += (avg - truth.mean[i]) * (avg - truth.mean[i]);
  }
  return std::sqrt(e / double(d)) / truth.sd;
}

struct Estimate {
  double error = 0, calls = 0;
};

SamplerOptions ddpm25() {
  SamplerOptions so;
  so.kind = "ddpm", so.steps = 25;
  return so;
}

MmpsOptions k1() {
  MmpsOptions o;
  o.krylov.max_iterations = 1;
  return o;
}

Estimate rmp_mmps(const MixtureProblem& p, const Moments& truth, int steps) {
  Context& ctx = test::context();
  auto mmps = make_mmps_denoiser(p.denoiser, p.op, p.noise->gaussian_variance(ctx, p.op->output().shape), repeated_y(p, 1), k1());
  RmpOptions o;
  o.steps = steps, o.inner = 1;
  const std::int64_t before = network_calls(*p.denoiser);
  const Tensor m = reverse_mean_propagation(ctx, *mmps, o, 1);
  return {mean_error(test::download(m), truth), double(network_calls(*p.denoiser) - before)};
}

Estimate rmp_exact(const MixtureProblem& p, const Moments& truth, int steps) {
  const MixtureDenoiser exact(p.exact, std::make_unique<VpProcess>(), test::device());
  RmpOptions o;
  o.steps = steps, o.inner = 1;
  return {mean_error(test::download(reverse_mean_propagation(test::context(), exact, o, 1)), truth), 0};
}

Estimate mmps_mean(const MixtureProblem& p, const Moments& truth, std::int64_t n) {
  Context& ctx = test::context();
  auto mmps = make_mmps_denoiser(p.denoiser, p.op, p.noise->gaussian_variance(ctx, p.op->output().shape), repeated_y(p, n), k1());
  const std::int64_t before = network_calls(*p.denoiser);
  const Tensor x = sample(ctx, *mmps, ddpm25(), n, 21);
  return {mean_error(test::download(x), truth), double(network_calls(*p.denoiser) - before)};
}

Estimate dps_mean(const MixtureProblem& p, const Moments& truth, std::int64_t n, double zeta) {
  DpsOptions o;
  o.zeta = zeta;
  const std::int64_t before = network_calls(*p.denoiser);
  const Tensor x = sample_dps(test::context(), *p.denoiser, Likelihood(p.op, p.noise), repeated_y(p, n), o, ddpm25(), n, 21);
  return {mean_error(test::download(x), truth), double(network_calls(*p.denoiser) - before)};
}

constexpr double kZetas[] = {0.03, 0.1, 0.3, 1.0, 3.0};

struct Family {
  const char* name;
  MixturePrior prior;
  std::size_t m;
  double sigma_y;
};

// One row: per sample count N, the four estimates averaged over the instances (DPS at the zeta best
// on the other instances).
struct Row {
  Estimate rmp[3], exact[3], mmps[3], dps[3];
  Estimate rmp25;  // RMP over MMPS k = 1 at T = 25, whatever N
};

constexpr std::int64_t kSamples[] = {8, 32, 128};

Row run_family(const Family& f, int instances) {
  Row row;
  const double share = 1.0 / instances;
  for (std::size_t c = 0; c < 3; ++c) {
    const std::int64_t n = kSamples[c];
    std::vector<std::vector<Estimate>> dps(static_cast<std::size_t>(instances));
    for (int i = 0; i < instances; ++i) {
      const MixtureProblem p = make_mixture_problem(f.prior, f.m, f.sigma_y, std::uint64_t(i));
      const Moments truth = moments(p.exact);
      auto add = [share](Estimate& total, const Estimate& e) { total.error += e.error * share, total.calls += e.calls * share; };
      add(row.rmp[c], rmp_mmps(p, truth, int(25 * n)));
      if (c == 0) add(row.rmp25, rmp_mmps(p, truth, 25));
      add(row.exact[c], rmp_exact(p, truth, int(25 * n)));
      add(row.mmps[c], mmps_mean(p, truth, n));
      for (double zeta : kZetas) dps[std::size_t(i)].push_back(dps_mean(p, truth, n, zeta));
    }
    for (int i = 0; i < instances; ++i) {
      std::size_t best = 0;
      double best_error = 1e300;
      for (std::size_t z = 0; z < std::size(kZetas); ++z) {
        double e = 0;
        for (int j = 0; j < instances; ++j)
          if (j != i) e += dps[std::size_t(j)][z].error;
        if (e < best_error) best_error = e, best = z;
      }
      row.dps[c].error += dps[std::size_t(i)][best].error * share;
      row.dps[c].calls += dps[std::size_t(i)][best].calls * share;
    }
  }
  return row;
}

}  // namespace

TEST_SUITE("nightly") {
TEST_CASE("table: RMP's mean on mixture posteriors vs the means of MMPS and DPS samples at equal network calls") {
  const std::vector<Family> families{{"ring", test::ring_mixture(2, {0.5, 0.3, 0.2}), 1, 0.5},
                                     {"ring", test::ring_mixture(2, {0.5, 0.3, 0.2}), 1, 0.2},
                                     {"ring", test::ring_mixture(16, {0.2, 0.4, 0.1, 0.3}), 4, 0.5},
                                     {"ring", test::ring_mixture(16, {0.2, 0.4, 0.1, 0.3}), 8, 0.2},
                                     {"grid", test::grid_mixture(2), 1, 0.5},
                                     {"grid", test::grid_mixture(2), 1, 0.2},
                                     {"grid", test::grid_mixture(16), 4, 0.5},
                                     {"grid", test::grid_mixture(16), 8, 0.2}};
  if (print_tables()) {
    std::printf("| family | d | m | sigma_y | N | calls (RMP / MMPS / DPS) | RMP (MMPS k=1) | RMP (exact posterior denoiser) | mean of N MMPS | "
                "mean of N DPS (held-out zeta) | RMP (MMPS k=1), T = 25, 54 calls |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  }
  for (const Family& f : families) {
    const Row row = run_family(f, 4);
    for (std::size_t c = 0; c < 3; ++c) {
      if (print_tables())
        std::printf("| %s | %lld | %zu | %.1f | %lld | %.0f / %.0f / %.0f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", f.name, (long long)f.prior.dim,
                    f.m, f.sigma_y, (long long)kSamples[c], row.rmp[c].calls, row.mmps[c].calls, row.dps[c].calls, row.rmp[c].error,
                    row.exact[c].error, row.mmps[c].error, row.dps[c].error, row.rmp25.error);
      // Equal budgets, to the two calls of RMP's start and end.
      CHECK(std::abs(row.rmp[c].calls - row.mmps[c].calls) <= 0.05 * row.mmps[c].calls);
      CHECK(std::abs(row.dps[c].calls - row.mmps[c].calls) <= 0.05 * row.mmps[c].calls);
      // Where 8 observations at sigma_y 0.2 leave one component, the posterior is nearly Gaussian and
      // mean propagation nearly exact (measured 0.014 ring, 0.010 grid); elsewhere it is biased by
      // 0.2-0.5 posterior sd whatever T, which the table reports.
      if (f.m == 8) CHECK(row.exact[c].error < 0.05);
    }
  }
}
}

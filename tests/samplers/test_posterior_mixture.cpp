// MMPS and DPS against the exact posterior of a Gaussian mixture prior under linear Gaussian
// observations, which is again a mixture (each component conditioned on y, reweighted by its
// evidence), so exact posterior draws are available. TWEEDIE_PRINT_TABLES=1 prints the table of the
// note: per mixture family, observation count and noise, and step count, the sliced Wasserstein
// distance to exact draws and the error of the component weights, averaged over random instances.
//
// Protocol. An instance draws A (m x d, N(0, 2/d) entries), a truth x* from the prior and y = A x* +
// sigma_y n. DPS's step size zeta is chosen from a grid in two ways: "oracle", the zeta with the
// smallest mean distance over the very instances it is scored on (the most DPS can get), and "held
// out", for each instance the zeta best on the other instances (what tuning on validation problems
// gives). MMPS has no step size. Budgets are equal at k = 1: a forward and a VJP per DPS step, a
// linearization and one JVP per MMPS step. The exact posterior denoiser (the prior denoiser of the
// conditioned mixture, since x_t and y are independent given x) through the same sampler shows the
// sampler's own discretisation error.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "samplers/distances.h"
#include "samplers/mixture_fixtures.h"
#include "samplers/mixture_problems.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/mmps.h"
#include "samplers/processes.h"
#include "samplers/sampler.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using tweedie::test::MixtureProblem;
using tweedie::test::make_mixture_problem;
using tweedie::test::repeated_y;

namespace {

using tweedie::test::print_tables;


// One run scored against exact draws: sliced W2, total variation between the exact component weights
// and the samples' component fractions, network evaluations per sample.
struct Score {
  double sw = 0, weights = 0, calls = 0;
};

using Reference = tweedie::test::MixtureReference;
using tweedie::test::make_mixture_reference;

Score score(const MixtureProblem& p, const Reference& ref, const Tensor& x, std::int64_t calls, std::int64_t n) {
  Score s;
  s.sw = test::sliced_wasserstein(test::download(x), ref.draws, std::size_t(p.prior.dim));
  const std::vector<double> f = test::component_fractions(*ref.posterior, x);
  for (std::size_t k = 0; k < f.size(); ++k) s.weights += 0.5 * std::abs(f[k] - p.exact.weights[k]);
  s.calls = double(calls) / double(n);
  return s;
}

std::int64_t network_calls(const Denoiser& d) { return d.forward_count + d.jvp_count + d.vjp_count; }

SamplerOptions ddpm(int steps) {
  SamplerOptions so;
  so.kind = "ddpm", so.steps = steps;
  return so;
}

Score run_mmps(const MixtureProblem& p, const Reference& ref, int steps, int k, std::int64_t n) {
  MmpsOptions o;
  o.krylov.max_iterations = k;
  Context& ctx = test::context();
  auto mmps = make_mmps_denoiser(p.denoiser, p.op, p.noise->gaussian_variance(ctx, p.op->output().shape), repeated_y(p, n), o);
  const std::int64_t before = network_calls(*p.denoiser);
  Tensor x = sample(ctx, *mmps, ddpm(steps), n, 21);
  return score(p, ref, x, network_calls(*p.denoiser) - before, n);
}

Score run_dps(const MixtureProblem& p, const Reference& ref, int steps, double zeta, std::int64_t n) {
  DpsOptions o;
  o.zeta = zeta;
  const std::int64_t before = network_calls(*p.denoiser);
  Tensor x = sample_dps(test::context(), *p.denoiser, Likelihood(p.op, p.noise), repeated_y(p, n), o, ddpm(steps), n, 21);
  return score(p, ref, x, network_calls(*p.denoiser) - before, n);
}

Score run_exact(const MixtureProblem& p, const Reference& ref, int steps, std::int64_t n) {
  Tensor x = sample(test::context(), *ref.posterior, ddpm(steps), n, 21);
  return score(p, ref, x, 0, n);
}

constexpr double kZetas[] = {0.03, 0.1, 0.3, 1.0, 3.0};
constexpr std::size_t kZetaCount = std::size(kZetas);

// Means over the instances of one (family, steps) cell.
struct Cell {
  double floor = 0, prior = 0;
  Score exact, mmps1, mmps3, dps_oracle, dps_held_out;
  double zeta_oracle = 0;
};

void add_share(Score& total, const Score& s, double share) {
  total.sw += s.sw * share, total.weights += s.weights * share, total.calls += s.calls * share;
}

Cell run_cell(const MixturePrior& prior, std::size_t m, double sigma_y, int steps, int instances, std::int64_t n, bool with_k3) {
  Cell c;
  const double share = 1.0 / instances;
  std::vector<std::vector<Score>> dps(static_cast<std::size_t>(instances));
  for (int i = 0; i < instances; ++i) {
    const MixtureProblem p = make_mixture_problem(prior, m, sigma_y, std::uint64_t(i));
    const Reference ref = make_mixture_reference(p, n);
    c.floor += ref.floor * share, c.prior += ref.prior * share;
    add_share(c.exact, run_exact(p, ref, steps, n), share);
    add_share(c.mmps1, run_mmps(p, ref, steps, 1, n), share);
    if (with_k3) add_share(c.mmps3, run_mmps(p, ref, steps, 3, n), share);
    for (double zeta : kZetas) dps[std::size_t(i)].push_back(run_dps(p, ref, steps, zeta, n));
  }
  // The zeta with the smallest mean distance over every instance (the oracle), or over the others.
  auto best_zeta = [&](int held_out) {
    return tweedie::test::held_out_choice(kZetaCount, instances, held_out, [&](std::size_t z, int j) { return dps[std::size_t(j)][z].sw; });
  };
  const std::size_t oracle = best_zeta(-1);
  c.zeta_oracle = kZetas[oracle];
  for (int i = 0; i < instances; ++i) {
    add_share(c.dps_oracle, dps[std::size_t(i)][oracle], share);
    add_share(c.dps_held_out, dps[std::size_t(i)][best_zeta(i)], share);
  }
  return c;
}

void print_cell_header(const char* family, std::int64_t d, std::size_t m, double sigma_y, int instances, std::int64_t n) {
  std::printf("\n%s %lld-D, %zu observations, sigma_y %.2f; means over %d instances of %lld samples: SW2 / weight error (calls per sample)\n",
              family, (long long)d, m, sigma_y, instances, (long long)n);
  std::printf("  %5s %6s %6s %15s %19s %19s %19s %19s %15s\n", "steps", "floor", "prior", "exact denoiser", "MMPS k=1",
              "MMPS k=3", "DPS oracle zeta", "DPS held-out zeta", "oracle zeta");
}

void print_cell(int steps, const Cell& c) {
  auto cell = [](const Score& s) {
    static char buf[4][64];
    static int slot = 0;
    char* b = buf[slot++ % 4];
    std::snprintf(b, 64, "%.3f / %.3f (%.0f)", s.sw, s.weights, s.calls);
    return b;
  };
  std::printf("  %5d %6.3f %6.3f %7.3f / %.3f %19s", steps, c.floor, c.prior, c.exact.sw, c.exact.weights, cell(c.mmps1));
  std::printf(" %19s", cell(c.mmps3));
  std::printf(" %19s", cell(c.dps_oracle));
  std::printf(" %19s %15.2f\n", cell(c.dps_held_out), c.zeta_oracle);
}

}  // namespace

// At low noise p(x | x_t) is nearly Gaussian, so MMPS's moment match becomes exact: its E[x | x_t, y]
// must approach the exact conditioned-mixture denoiser's as t falls, where the prior's own denoiser stays
// far from it. (At high noise the two differ by the Gaussian approximation: see the note.)
TEST_CASE("MMPS's posterior denoiser approaches the exact one at low noise on mixture priors") {
  struct Setup {
    MixturePrior prior;
    std::size_t m;
    double sigma_y;
  } setups[] = {{test::ring_mixture(2, {0.5, 0.3, 0.2}), 1, 0.2}, {test::grid_mixture(16), 8, 0.2}};
  Context& ctx = test::context();
  for (const Setup& s : setups) {
    const std::int64_t n = 500, d = s.prior.dim;
    CAPTURE(d);
    const MixtureProblem p = make_mixture_problem(s.prior, s.m, s.sigma_y, 0);
    const MixtureDenoiser exact(p.exact, std::make_unique<VpProcess>(), test::device());
    Tensor x = Tensor::empty({n, d}, test::device());
    exact.sample_prior(ctx, 5, x);
    const std::vector<double> xs = test::download(x);
    MmpsOptions o;
    o.krylov.max_iterations = 50, o.krylov.tolerance = 0;  // solved exactly: only the moment match remains
    auto mmps = make_mmps_denoiser(p.denoiser, p.op, p.noise->gaussian_variance(ctx, p.op->output().shape), repeated_y(p, n), o);
    std::mt19937_64 gen(3);
    std::normal_distribution<double> normal;
    double previous = 1e300;
    for (double t : {0.3, 0.1, 0.02}) {
      CAPTURE(t);
      const double a = p.denoiser->process().alpha(t), sg = p.denoiser->process().sigma(t);
      std::vector<double> noised(xs.size());
      for (std::size_t i = 0; i < xs.size(); ++i) noised[i] = a * xs[i] + sg * normal(gen);
      Tensor xt = test::upload(noised, {n, d}), want = Tensor::empty({n, d}, test::device());
      Tensor got = Tensor::empty({n, d}, test::device()), prior = Tensor::empty({n, d}, test::device());
      exact.denoise(ctx, xt, t, want);
      mmps->denoise(ctx, xt, t, got);
      p.denoiser->denoise(ctx, xt, t, prior);
      const std::vector<double> w = test::download(want), g = test::download(got), q = test::download(prior);
      double err = 0, prior_err = 0;
      for (std::size_t i = 0; i < w.size(); ++i) err += (g[i] - w[i]) * (g[i] - w[i]), prior_err += (q[i] - w[i]) * (q[i] - w[i]);
      err = std::sqrt(err / double(n)), prior_err = std::sqrt(prior_err / double(n));
      CAPTURE(err);
      CAPTURE(prior_err);
      CHECK(err < previous);
      CHECK(err < prior_err);
      if (t < 0.05) CHECK(err < 1e-3 * prior_err);  // measured: 8e-5 (ring), 8e-6 (grid)
      previous = err;
    }
  }
}

// Equal budgets (k = 1). On the well-separated 25-component mixture in 16-D with 4 observations, MMPS
// is closer to the exact posterior than DPS at every step size of the grid, let alone the tuned one.
TEST_CASE("MMPS beats DPS at any step size at an equal number of network evaluations on a 16-D mixture posterior") {
  const MixturePrior prior = test::grid_mixture(16);
  const std::int64_t n = 1000;
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    const MixtureProblem p = make_mixture_problem(prior, 4, 0.5, std::uint64_t(i));
    const Reference ref = make_mixture_reference(p, n);
    const Score mmps = run_mmps(p, ref, 25, 1, n);
    CAPTURE(mmps.sw);
    for (double zeta : kZetas) {
      const Score dps = run_dps(p, ref, 25, zeta, n);
      CAPTURE(zeta);
      CAPTURE(dps.sw);
      CHECK(std::abs(mmps.calls - dps.calls) <= 1);  // the final denoising step differs by one evaluation
      CHECK(mmps.sw < dps.sw);
    }
  }
}

namespace {

struct Family {
  const char* name;
  MixturePrior prior;
  std::size_t m;
  double sigma_y;
};

// The two families of the note's table: "ring" has few broad, overlapping components with rotated
// covariances; "grid" is the well-separated 25-component benchmark (mixture_fixtures.h). Each in 2-D
// (one observation) and 16-D (4 and 8 observations).
std::vector<Family> ring_families() {
  return {{"ring", test::ring_mixture(2, {0.5, 0.3, 0.2}), 1, 0.5},
          {"ring", test::ring_mixture(2, {0.5, 0.3, 0.2}), 1, 0.2},
          {"ring", test::ring_mixture(16, {0.2, 0.4, 0.1, 0.3}), 4, 0.5},
          {"ring", test::ring_mixture(16, {0.2, 0.4, 0.1, 0.3}), 8, 0.2}};
}
std::vector<Family> grid_families() {
  return {{"grid", test::grid_mixture(2), 1, 0.5},
          {"grid", test::grid_mixture(2), 1, 0.2},
          {"grid", test::grid_mixture(16), 4, 0.5},
          {"grid", test::grid_mixture(16), 8, 0.2}};
}

// Runs each family's cells at 25 and 100 steps (4 instances of 1000 samples) and checks what the note
// claims: both methods use the observation (closer than the prior); on the grid family MMPS k = 1 is
// closer than DPS with its held-out zeta at equal cost in every cell but 16-D / 8 observations at 100
// steps, where the posterior is one component and the two tie (within 15%). On the ring family oracle-
// or held-out-tuned DPS wins several cells (see the note): MMPS's Gaussian moment match of a multimodal
// p(x | x_t) costs more there than DPS's tuning does, so only the first claim is checked there.
void check_table(const std::vector<Family>& families) {
  const int instances = 4;
  const std::int64_t n = 1000;
  for (const Family& f : families) {
    CAPTURE(f.name);
    CAPTURE(f.prior.dim);
    CAPTURE(f.m);
    CAPTURE(f.sigma_y);
    if (print_tables()) print_cell_header(f.name, f.prior.dim, f.m, f.sigma_y, instances, n);
    for (int steps : {25, 100}) {
      CAPTURE(steps);
      const Cell c = run_cell(f.prior, f.m, f.sigma_y, steps, instances, n, print_tables());
      if (print_tables()) print_cell(steps, c);
      CHECK(c.mmps1.sw < c.prior);
      CHECK(c.dps_held_out.sw < c.prior);
      CHECK(std::abs(c.mmps1.calls - c.dps_oracle.calls) <= 1);
      if (std::string(f.name) == "grid") {
        if (f.m == 8 && steps == 100) CHECK(c.mmps1.sw < 1.15 * c.dps_held_out.sw);
        else CHECK(c.mmps1.sw < c.dps_held_out.sw);
      }
    }
  }
}

}  // namespace

TEST_SUITE("slow") {
TEST_CASE("MMPS and DPS against exact mixture posteriors over random instances: the grid family's cells") {
  check_table(grid_families());
}
}  // TEST_SUITE slow

TEST_SUITE("nightly") {
// The whole table of the note (TWEEDIE_PRINT_TABLES=1 prints it), the ring family included.
TEST_CASE("MMPS and DPS against exact mixture posteriors over random instances: the note's table") {
  std::vector<Family> all = ring_families();
  for (Family& f : grid_families()) all.push_back(std::move(f));
  check_table(all);
}
}  // TEST_SUITE nightly

// Every sampling method of `tweedie solve` against the exact posterior of a Gaussian-mixture prior
// (mixture_problems.h) at an equal budget of network calls per sample: sliced W2 to exact draws and
// the total-variation error of the component weights, averaged over random instances. Step counts
// follow from the budget and each method's calls per step (tds: 2 K per step for K particles). The
// step sizes of DPS (zeta), DiffPIR (lambda) and DAPS (Langevin lr) are tuned held out: for each
// instance, the value best on the other instances. TWEEDIE_PRINT_TABLES=1 prints the tables.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "samplers/distances.h"
#include "samplers/mixture_fixtures.h"
#include "samplers/mixture_problems.h"
#include "samplers/posterior/solve.h"
#include "samplers/processes.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using tweedie::test::MixtureProblem;

namespace {

struct Score {
  double sw = 0, weights = 0, calls = 0;
  int diverged = 0;  // instances whose run stopped at a non-finite value (not in the means)
};

// What one method costs per step and item, and the values of its step size to tune (none: empty).
struct Method {
  std::string name;
  double calls_per_step;
  std::vector<double> tuning;
};

constexpr int kParticles = 4;

std::vector<Method> methods() {
  return {{"mmps", 2, {}},   {"pigdm", 2, {}}, {"tmpd", 3, {}},
          {"ddrm", 1, {}},   {"ddnm", 1, {}},  {"dps", 2, {0.03, 0.1, 0.3, 1.0, 3.0}},
          {"diffpir", 1, {0.01, 0.03, 0.1, 0.3, 1.0, 3.0}}, {"daps", 1, {0.1, 0.3, 0.6, 1.0}},
          {"tds", 2.0 * kParticles, {}}};
}

SolveOptions options_for(const Method& m, int budget, double tuned) {
  SolveOptions o;
  o.method = m.name;
  o.seed = 21;
  o.sampler.kind = "ddpm";
  o.sampler.steps = std::max(1, int(std::lround(budget / m.calls_per_step)));
  o.mmps.krylov.max_iterations = 1;  // MMPS at k = 1: a linearization and one JVP per step
  o.tds.particles = kParticles;
  if (m.name == "dps") o.dps.zeta = tuned;
  if (m.name == "diffpir") o.diffpir.lambda = tuned;
  if (m.name == "daps") o.daps.lr = tuned, o.daps.langevin_steps = 20;
  return o;
}

using Reference = tweedie::test::MixtureReference;
using tweedie::test::make_mixture_reference;

Score run_method(const MixtureProblem& p, const Reference& ref, const SolveOptions& o, std::int64_t n) {
  Context& ctx = test::context();
  const Tensor y = test::upload(p.y, {1, std::int64_t(p.m)});
  const SolveProblem problem{p.denoiser, p.op, p.noise, y};
  check_solve_problem(ctx, o, problem, o.method);
  const std::int64_t before = p.denoiser->forward_count + p.denoiser->jvp_count + p.denoiser->vjp_count;
  Tensor x;
  try {
    x = solve_rows(ctx, o, problem, n, 0, n);
  } catch (const NumericError&) {
    return {1e300, 1, 0, 1};  // a step size that diverges scores worst
  }
  Score s;
  s.sw = test::sliced_wasserstein(test::download(x), ref.draws, std::size_t(p.prior.dim));
  const std::vector<double> f = test::component_fractions(*ref.posterior, x);
  for (std::size_t k = 0; k < f.size(); ++k) s.weights += 0.5 * std::abs(f[k] - p.exact.weights[k]);
  s.calls = double(p.denoiser->forward_count + p.denoiser->jvp_count + p.denoiser->vjp_count - before) / double(n);
  return s;
}

struct Cell {
  double floor = 0, prior = 0;
  std::map<std::string, Score> scores;  // means over the instances
  std::map<std::string, double> tuned;  // the held-out value most instances took
};

Cell run_cell(const MixturePrior& prior, std::size_t m, double sigma_y, int budget, int instances, std::int64_t n) {
  Cell c;
  const double share = 1.0 / instances;
  std::vector<MixtureProblem> problems;
  std::vector<Reference> refs;
  for (int i = 0; i < instances; ++i) {
    problems.push_back(test::make_mixture_problem(prior, m, sigma_y, std::uint64_t(i)));
    refs.push_back(make_mixture_reference(problems.back(), n));
    c.floor += refs.back().floor * share, c.prior += refs.back().prior * share;
  }
  for (const Method& method : methods()) {
    const std::vector<double> values = method.tuning.empty() ? std::vector<double>{0.0} : method.tuning;
    std::vector<std::vector<Score>> runs(values.size());  // [value][instance]
    for (std::size_t v = 0; v < values.size(); ++v)
      for (int i = 0; i < instances; ++i) runs[v].push_back(run_method(problems[std::size_t(i)], refs[std::size_t(i)], options_for(method, budget, values[v]), n));
    Score total;
    std::map<double, int> picked;
    for (int i = 0; i < instances; ++i) {
      const std::size_t best = test::held_out_choice(values.size(), instances, i, [&](std::size_t v, int j) { return runs[v][std::size_t(j)].sw; });
      ++picked[values[best]];
      const Score& s = runs[best][std::size_t(i)];
      if (s.diverged) {
        ++total.diverged;
        continue;
      }
      total.sw += s.sw, total.weights += s.weights, total.calls += s.calls;
    }
    const int kept = instances - total.diverged;
    if (kept > 0) total.sw /= kept, total.weights /= kept, total.calls /= kept;
    c.scores[method.name] = total;
    int most = 0;
    for (const auto& [value, count] : picked)
      if (count > most) most = count, c.tuned[method.name] = value;
  }
  return c;
}

void report(const char* family, const MixturePrior& prior, std::size_t m, double sigma_y, int budget, const Cell& c) {
  std::string line = cat(family, " ", prior.dim, "-D, ", m, " observations, sigma_y ", sigma_y, ", ", budget,
                         " network calls per sample: floor ", c.floor, ", prior ", c.prior);
  for (const Method& method : methods()) {
    const Score& s = c.scores.at(method.name);
    line += cat("\n  ", method.name, ": SW2 ", s.sw, ", weight error ", s.weights, ", calls ", s.calls);
    if (s.diverged) line += cat(" (diverged on ", s.diverged, " instances, left out of the means)");
    if (!method.tuning.empty()) line += cat(" (held-out step size, mostly ", c.tuned.at(method.name), ")");
  }
  MESSAGE(line);
  if (test::print_tables()) std::printf("%s\n", line.c_str());
}

// Every method uses the observation (closer to the posterior than the prior is) and spends the budget
// it was given (within the one evaluation of a final denoise, or TDS's rounding of steps).
void check_cell(const Cell& c, int budget) {
  for (const Method& method : methods()) {
    CAPTURE(method.name);
    const Score& s = c.scores.at(method.name);
    // The nightly 2-D cells at 200 calls found DAPS diverging on one instance of four (a zero curvature
    // estimate, daps.cpp); a run that stops is counted here and fails the check.
    CHECK(s.diverged == 0);
    if (s.diverged > 0 && s.calls == 0) continue;  // every instance diverged: nothing to score
    CHECK(s.sw < c.prior);
    CHECK(s.calls <= budget + 2 * kParticles + 1);
    CHECK(s.calls >= 0.9 * budget);
  }
}

}  // namespace

TEST_SUITE("slow") {
TEST_CASE("every sampling method at an equal network-call budget against an exact 16-D grid-mixture posterior") {
  const MixturePrior prior = test::grid_mixture(16);
  const int budget = 100;
  const Cell c = run_cell(prior, 4, 0.5, budget, 3, 500);
  report("grid", prior, 4, 0.5, budget, c);
  check_cell(c, budget);
}
}

TEST_SUITE("nightly") {
TEST_CASE("every sampling method at equal budgets against exact mixture posteriors: both families") {
  struct Family {
    const char* name;
    MixturePrior prior;
    std::size_t m;
    double sigma_y;
  };
  const Family families[] = {{"ring", test::ring_mixture(2, {0.5, 0.3, 0.2}), 1, 0.2},
                             {"ring", test::ring_mixture(16, {0.2, 0.4, 0.1, 0.3}), 4, 0.5},
                             {"grid", test::grid_mixture(2), 1, 0.2},
                             {"grid", test::grid_mixture(16), 4, 0.5},
                             {"grid", test::grid_mixture(16), 8, 0.2}};
  for (const Family& f : families)
    for (int budget : {50, 200}) {
      CAPTURE(f.name);
      CAPTURE(budget);
      const Cell c = run_cell(f.prior, f.m, f.sigma_y, budget, 4, 1000);
      report(f.name, f.prior, f.m, f.sigma_y, budget, c);
      check_cell(c, budget);
    }
}
}

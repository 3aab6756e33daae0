// The count-data benchmark (count_benchmark.h): the 1-D GP of the evidence-trick paper at two Poisson
// count levels and with Binomial data, every method against elliptical slice sampling. The slow suite
// runs a few problems per setting and checks the headline; the nightly suite runs 50 per 1-D setting and
// 10 per 2-D one (Cox process and prevalence survey on a 32 x 32 grid) and
// prints the README's tables (TWEEDIE_PRINT_TABLES=1).
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "samplers/count_benchmark.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::test;

namespace {

// Mean counts of about 1 and about 20 (E[s e^f] = s e^(1/2) for f ~ N(0, 1)), and 20 trials. The seed
// of each setting is fixed by its place in the full list, so the slow suite's problems are the nightly's.
std::vector<CountSetting> settings(int problems, int samples, int mcmc_iterations, int mcmc_thin, int inference_steps, int inference_hidden) {
  struct Kind {
    const char* family;
    double scale;
  };
  const Kind kinds[] = {{"poisson", 0.6}, {"poisson", 12.0}, {"binomial", 1.0}};
  std::vector<CountSetting> out;
  for (std::size_t k = 0; k < std::size(kinds); ++k) {
    CountSetting s;
    s.family = kinds[k].family;
    s.scale = kinds[k].scale;
    s.trials = 20;
    s.problems = problems;
    s.samples = samples;
    s.mcmc_iterations = mcmc_iterations;
    s.mcmc_thin = mcmc_thin;
    s.seed = 1 + 1000 * k;
    s.inference_steps = inference_steps;
    s.inference_hidden = inference_hidden;
    out.push_back(s);
  }
  return out;
}

// The MCMC reference (elliptical slice sampling on the Laplace ellipse) must reach R-hat < 1.01 on
// every entry of every problem.
void check_headline(const CountSetting& s, const CountBenchmark& b) {
  CAPTURE(s.family);
  CAPTURE(s.scale);
  if (print_tables()) std::printf("%s", count_benchmark_table(s, b).c_str());
  CHECK(b.mcmc_rhat < 1.01);
  const MethodScore& mmps = score_of(b, "mmps for counts, exact variance");
  const MethodScore& evidence = score_of(b, "evidence, exact variance");
  const MethodScore& cheap_evidence = score_of(b, "evidence, heuristic variance");
  const MethodScore& dps = score_of(b, "dps, held-out zeta");
  CAPTURE(mmps.mean_error); CAPTURE(mmps.spread); CAPTURE(mmps.coverage);
  CAPTURE(evidence.mean_error); CAPTURE(evidence.failure); CAPTURE(cheap_evidence.mean_error); CAPTURE(dps.mean_error);
  REQUIRE(mmps.failure.empty());
  // MMPS for counts: close to the MCMC answer with the right spread. (K exact samples would score a mean
  // error of sqrt(2 / pi / K), 0.14 for K = 32, and cover 0.9 (K - 1) / (K + 1) of the truth, 0.87 for K = 64.)
  CHECK(mmps.mean_error < 0.2);
  CHECK(mmps.spread > 0.85);
  CHECK(mmps.spread < 1.15);
  CHECK(mmps.coverage > 0.8);
  CHECK(mmps.coverage < 0.97);
  // The per-entry evidence is further away than MMPS; at DPS's cost (one VJP a step) it is closer than
  // DPS, except on the survey (Binomial counts at 10% of the sites), where the nightly run measured a
  // tie (0.480 +- 0.024 against DPS's 0.460 +- 0.032, 10 problems): there the claim is not asserted.
  CHECK((!evidence.failure.empty() || evidence.mean_error > mmps.mean_error));
  REQUIRE(cheap_evidence.failure.empty());
  if (s.observed >= 1) CHECK((!dps.failure.empty() || cheap_evidence.mean_error < dps.mean_error));
  // The inference network (where trained): at the heuristic's cost, closer than the heuristic variance.
  if (s.inference_steps > 0) {
    const MethodScore& network = score_of(b, "evidence, inference network");
    CAPTURE(network.mean_error);
    REQUIRE(network.failure.empty());
    CHECK(network.mean_error < cheap_evidence.mean_error);
  }
}

// The 2-D problems: a Cox process (Poisson counts at every site of a side x side grid, s = 2, mean count
// about 3) and a prevalence survey (Binomial counts at 10% of the sites, 5 to 50 trials each), on a GP
// field of length 0.15. Seeds apart from the 1-D settings'.
std::vector<CountSetting> grid_settings(int side, int problems, int samples, int mcmc_iterations, int mcmc_thin, int inference_steps) {
  std::vector<CountSetting> out(2);
  for (int k = 0; k < 2; ++k) {
    CountSetting& s = out[std::size_t(k)];
    s.side = side;
    s.length = 0.15;
    s.problems = problems;
    s.samples = samples;
    s.mcmc_iterations = mcmc_iterations;
    s.mcmc_thin = mcmc_thin;
    s.seed = 7001 + 1000 * std::uint64_t(k);
    s.inference_steps = inference_steps;
    s.inference_hidden = 256;
  }
  out[0].family = "poisson", out[0].scale = 2.0;
  out[1].family = "binomial", out[1].trials = 5, out[1].trials_max = 50, out[1].observed = 0.1;
  return out;
}

}  // namespace

TEST_SUITE("slow") {
TEST_CASE("count benchmark: MMPS for counts and the evidence trick against MCMC on the 1-D GP (6 problems per setting)") {
  // The inference network only at the low count level, where 1000 steps of a width-128 MLP suffice to
  // beat the heuristic variance (measured 0.39 against 0.75; at 600 steps it lost at s = 12 and on
  // Binomial data, so the short training the slow suite affords would say nothing there).
  for (CountSetting s : settings(6, 32, 6000, 2, 1000, 128)) {
    if (s.family != "poisson" || s.scale > 1) s.inference_steps = 0;
    check_headline(s, run_count_benchmark(s));
  }
}

TEST_CASE("count benchmark: 2-D, a Cox process and a prevalence survey on a 16 x 16 grid (3 problems each)") {
  for (const CountSetting& s : grid_settings(16, 3, 64, 3000, 2, 0)) check_headline(s, run_count_benchmark(s));
}
}  // TEST_SUITE slow

TEST_SUITE("nightly") {
TEST_CASE("count benchmark: the README's tables (50 problems per setting)") {
  for (const CountSetting& s : settings(50, 64, 20000, 5, 3000, 256)) check_headline(s, run_count_benchmark(s));
}

TEST_CASE("count benchmark: the README's 2-D tables (Cox process and prevalence survey on a 32 x 32 grid, 10 problems each)") {
  for (const CountSetting& s : grid_settings(32, 10, 64, 4000, 2, 1000)) check_headline(s, run_count_benchmark(s));
}
}  // TEST_SUITE nightly

// The count-data benchmark (count_benchmark.h): the 1-D GP of the evidence-trick paper at two Poisson
// count levels and with Binomial data, every method against elliptical slice sampling. The slow suite
// runs a few problems per setting and checks the headline; the nightly suite runs 50 per setting and
// prints the README's tables (TWEEDIE_PRINT_TABLES=1).
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "samplers/count_benchmark.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::test;

namespace {

bool print_tables() { return std::getenv("TWEEDIE_PRINT_TABLES") != nullptr; }

// Mean counts of about 1 and about 20 (E[s e^f] = s e^(1/2) for f ~ N(0, 1)), and 20 trials. The seed
// of each setting is fixed by its place in the full list, so the slow suite's problems are the nightly's.
// The slow suite leaves out s = 12: there elliptical slice sampling mixes slowly (worst R-hat 1.12 and
// min ESS 24 after 4 x 12000 iterations), so its reference needs the nightly run's length.
std::vector<CountSetting> settings(int problems, int samples, int mcmc_iterations, int mcmc_thin, bool high_counts) {
  struct Kind {
    const char* family;
    double scale;
  };
  const Kind kinds[] = {{"poisson", 0.6}, {"poisson", 12.0}, {"binomial", 1.0}};
  std::vector<CountSetting> out;
  for (std::size_t k = 0; k < std::size(kinds); ++k) {
    if (kinds[k].scale > 1 && !high_counts) continue;
    CountSetting s;
    s.family = kinds[k].family;
    s.scale = kinds[k].scale;
    s.trials = 20;
    s.problems = problems;
    s.samples = samples;
    s.mcmc_iterations = mcmc_iterations;
    s.mcmc_thin = mcmc_thin;
    s.seed = 1 + 1000 * k;
    out.push_back(s);
  }
  return out;
}

// rhat_limit: what the MCMC reference must reach. Measured worst R-hat: 1.009 (Poisson s = 0.6) and 1.031
// (Binomial) in the slow run, 1.013, 1.054 (s = 12) and 1.016 in the nightly one.
void check_headline(const CountSetting& s, const CountBenchmark& b, double rhat_limit) {
  CAPTURE(s.family);
  CAPTURE(s.scale);
  if (print_tables()) std::printf("%s", count_benchmark_table(s, b).c_str());
  CHECK(b.mcmc_rhat < rhat_limit);
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
  // The per-entry evidence is further away than MMPS; at DPS's cost (one VJP a step) it is closer than DPS.
  CHECK((!evidence.failure.empty() || evidence.mean_error > mmps.mean_error));
  REQUIRE(cheap_evidence.failure.empty());
  CHECK((!dps.failure.empty() || cheap_evidence.mean_error < dps.mean_error));
}

}  // namespace

TEST_SUITE("slow") {
TEST_CASE("count benchmark: MMPS for counts and the evidence trick against MCMC on the 1-D GP (6 problems per setting)") {
  for (const CountSetting& s : settings(6, 32, 12000, 3, false)) check_headline(s, run_count_benchmark(s), 1.05);
}
}  // TEST_SUITE slow

TEST_SUITE("nightly") {
TEST_CASE("count benchmark: the README's tables (50 problems per setting)") {
  // At s = 12 the reference is not converged to 1.01 even after 4 x 40000 iterations (README).
  for (const CountSetting& s : settings(50, 64, 40000, 10, true)) check_headline(s, run_count_benchmark(s), s.scale > 1 ? 1.1 : 1.03);
}
}  // TEST_SUITE nightly

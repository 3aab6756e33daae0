// Every sampler against the exact mixture prior it should reproduce: component weights and the sliced
// Wasserstein distance to exact draws, at growing step counts. Set TWEEDIE_PRINT_TABLES=1 to print
// the table (sampler x steps) that the note reports.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "samplers/distances.h"
#include "samplers/mixture_fixtures.h"
#include "samplers/mixture_denoiser.h"
#include "samplers/processes.h"
#include "samplers/sampler.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

using tweedie::test::print_tables;

}  // namespace

TEST_SUITE("slow") {
TEST_CASE("every sampler reproduces 2-D and 16-D Gaussian mixtures: weights within 3 standard errors, distances shrinking with steps") {
  struct Prior {
    std::int64_t d;
    std::vector<double> weights;
  } priors[] = {{2, {0.5, 0.3, 0.2}}, {16, {0.2, 0.4, 0.1, 0.3}}};
  struct Case {
    const char* kind;
    std::vector<int> steps;
  } cases[] = {{"em", {10, 40, 160}},   {"ode-euler", {3, 12, 48}}, {"ode-heun", {3, 10, 40}}, {"pc", {10, 40, 160}},
               {"ddpm", {10, 40, 160}}, {"ddim", {5, 20, 80}},      {"edm-heun", {5, 10, 40}}};
  for (const Prior& pr : priors) {
    // Enough draws that the distance's sampling noise stays below the discretisation error of few steps.
    const std::int64_t n = pr.d == 2 ? 20000 : 4000;
    MixturePrior prior = test::ring_mixture(pr.d, pr.weights);
    auto vp = std::make_unique<MixtureDenoiser>(prior, std::make_unique<VpProcess>(), test::device());
    auto edm = std::make_unique<MixtureDenoiser>(prior, std::make_unique<EdmProcess>(), test::device());
    // Two independent sets of exact draws: the reference, and the distance floor at this n.
    Tensor exact = Tensor::empty({n, pr.d}, test::device()), exact2 = Tensor::empty({n, pr.d}, test::device());
    vp->sample_prior(test::context(), 1001, exact);
    vp->sample_prior(test::context(), 2002, exact2);
    const std::vector<double> ref = test::download(exact);
    const double floor = test::sliced_wasserstein(test::download(exact2), ref, std::size_t(pr.d));
    if (print_tables()) std::printf("\n%lld-D mixture, %lld samples: exact-vs-exact SW2 %.4f\n", (long long)pr.d, (long long)n, floor);
    for (const Case& c : cases) {
      const std::string kind = c.kind;
      CAPTURE(pr.d);
      CAPTURE(kind);
      const MixtureDenoiser& m = kind == "edm-heun" ? *edm : *vp;
      std::vector<double> sw;
      std::vector<double> fractions;
      for (int steps : c.steps) {
        SamplerOptions o;
        o.kind = kind, o.steps = steps;
        // score_sde's Langevin signal-to-noise ratio 0.16 is tuned for images; near t = 0 it gives
        // steps as large as these components' variances, and the corrector then biases the chain.
        o.snr = 0.01;
        Tensor x = sample(test::context(), m, o, n, 77);
        std::vector<double> got = test::download(x);
        sw.push_back(test::sliced_wasserstein(got, ref, std::size_t(pr.d)));
        fractions = test::component_fractions(m, x);
        if (print_tables()) {
          std::printf("  %-9s steps %4d  SW2 %.4f  mean err %.4f  cov err %.4f  weights", c.kind, steps, sw.back(),
                      test::mean_error(got, ref, std::size_t(pr.d)), test::covariance_error(got, ref, std::size_t(pr.d)));
          for (double f : fractions) std::printf(" %.3f", f);
          std::printf("\n");
        }
      }
      CAPTURE(sw);
      // Converging: the distance falls by at least a third from the coarsest to the finest grid and
      // ends within a few times the exact-vs-exact distance (which is itself noisy at this n).
      CHECK(sw.back() < sw.front() / 1.5);
      CHECK(sw.back() < 4 * floor);
      for (std::size_t k = 0; k < pr.weights.size(); ++k) {
        CAPTURE(k);
        const double w = pr.weights[k];
        CHECK(std::abs(fractions[k] - w) < 3 * std::sqrt(w * (1 - w) / double(n)));
      }
    }
  }
}
}  // TEST_SUITE slow

// A NaN or infinity produced while sampling stops the run where it appears, naming the step, the item
// and the stage, rather than flowing into the result.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "kernels/map.h"
#include "runtime/error.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/mmps.h"
#include "samplers/processes.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

GaussianPrior diagonal_prior(std::int64_t d) {
  GaussianPrior p;
  p.kind = GaussianPrior::Covariance::diagonal;
  p.item_shape = {d};
  p.mean.assign(std::size_t(d), 0.1);
  p.var.assign(std::size_t(d), 0.5);
  return p;
}

// An exact Gaussian denoiser that, once t falls below `below`, writes a NaN into one value of item
// `item`: in its output (denoise, linearize) or in its VJP.
class Poisoned final : public Denoiser {
 public:
  enum class Where { output, vjp };
  Poisoned(std::int64_t d, double below, std::int64_t item, Where where)
      : inner_(diagonal_prior(d), std::make_unique<VpProcess>(), test::device()), below_(below), item_(item), where_(where) {}
  const Process& process() const override { return inner_.process(); }
  Shape item_shape() const override { return inner_.item_shape(); }
  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override {
    inner_.denoise(ctx, xt, t, x0);
    if (where_ == Where::output && t < below_) poison(x0);
  }
  std::unique_ptr<DenoiserLinearization> linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override {
    auto lin = inner_.linearize(ctx, xt, t, x0);
    if (where_ == Where::output && t < below_) poison(x0);
    last_t_ = t;
    return lin;
  }
  void jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const override { inner_.jvp(ctx, lin, v, jv); }
  void vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const override {
    inner_.vjp(ctx, lin, u, ju);
    if (where_ == Where::vjp && last_t_ < below_) poison(ju);
  }

 private:
  void poison(Tensor& x) const {
    std::vector<float> v = x.to_vector();
    v[std::size_t(item_ * (x.numel() / x.dim(0)) + 2)] = std::numeric_limits<float>::quiet_NaN();
    x.copy_from(Tensor::from_host(std::span<const float>(v), x.shape(), x.device()));
  }
  GaussianDenoiser inner_;
  double below_;
  std::int64_t item_;
  Where where_;
  mutable double last_t_ = 1;
};

}  // namespace

TEST_CASE("a NaN from the denoiser stops sampling at its step, naming the item and the stage") {
  Context ctx(test::device());
  Poisoned d(6, 0.5, 2, Poisoned::Where::output);
  SamplerOptions o;
  o.kind = "ddpm";
  o.steps = 10;
  CHECK_THROWS_WITH_AS(sample(ctx, d, o, 4, 7, 8), doctest::Contains("sampling stopped at step "), NumericError);
  try {
    sample(ctx, d, o, 4, 7, 8);
  } catch (const NumericError& e) {
    std::string m = e.what();
    CHECK_MESSAGE(m.find("of samples 8-11: the denoiser gave nan for item 2 at (2) of its (6) values") != std::string::npos, m);
    // The first step with t < 0.5 of a 10-step grid from 1 to ~0.
    std::vector<double> grid = d.process().time_grid(10);
    int first_bad = 0;
    while (grid[first_bad] >= 0.5) ++first_bad;
    CHECK_MESSAGE(m.find(cat("step ", first_bad + 1, "/10 (t = ", grid[first_bad], ")")) != std::string::npos, m);
  }
}

TEST_CASE("MMPS names the prior denoiser, and DPS the likelihood gradient, as the stage of a NaN") {
  Context ctx(test::device());
  const std::int64_t d = 6, n = 3;
  auto op = std::shared_ptr<const Operator>(make_identity({{d}, DType::f32}));
  Tensor y = test::upload(test::uniform(std::size_t(n * d), 3), {n, d});
  SamplerOptions o;
  o.kind = "ddim";
  o.steps = 8;
  {
    auto prior = std::make_shared<Poisoned>(d, 0.3, 1, Poisoned::Where::output);
    Tensor variance = Tensor::from_host(std::span<const float>(std::vector<float>(std::size_t(d), 0.01f)), {d}, test::device());
    auto mmps = make_mmps_denoiser(prior, op, variance, y, {});
    CHECK_THROWS_WITH_AS(sample(ctx, *mmps, o, n, 1), doctest::Contains("the prior denoiser gave nan for item 1 at (2)"), NumericError);
  }
  {
    Poisoned prior(d, 0.3, 0, Poisoned::Where::vjp);
    Likelihood lik(op, make_gaussian_noise(0.1));
    DpsOptions dps;
    dps.zeta = 1.0;
    CHECK_THROWS_WITH_AS(sample_dps(ctx, prior, lik, y, dps, o, n, 1), doctest::Contains("the likelihood gradient gave nan for item 0 at (2)"),
                         NumericError);
  }
}

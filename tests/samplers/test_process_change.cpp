// A denoiser trained under one process and run under another (process_change_denoiser.h) against the
// same exact prior built directly for the new process: E[x | x_t] of a Gaussian prior depends on the
// process only through the noise level, so the two must agree in value, JVP and VJP.
#include "samplers/process_change_denoiser.h"

#include "samplers/gaussian_denoiser.h"
#include "samplers/process.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

GaussianPrior small_prior() {
  GaussianPrior p;
  p.kind = GaussianPrior::Covariance::dense;
  p.item_shape = {6};
  p.mean = test::uniform(6, 51, -1, 1);
  p.cov = test::random_covariance(6, 52);
  return p;
}

}  // namespace

TEST_CASE("a VP-trained denoiser run under VE and EDM equals the prior's own VE and EDM denoiser: value, JVP, VJP") {
  Context& ctx = test::context();
  const Device dev = test::device();
  auto trained = std::make_shared<GaussianDenoiser>(small_prior(), process_from_spec("vp", "test"), dev);
  for (const char* spec : {"ve", "edm"}) {
    CAPTURE(spec);
    auto changed = make_process_change_denoiser(trained, process_from_spec(spec, "test"));
    GaussianDenoiser direct(small_prior(), process_from_spec(spec, "test"), dev);
    CHECK(changed->process().name() == direct.process().name());
    const Process& p = direct.process();
    for (double level : {0.05, 0.7, 20.0}) {
      const double t = time_of_noise_level(p, level);
      CAPTURE(level);
      Tensor xt = test::upload(test::uniform(12, 53, -3, 3), {2, 6}), v = test::upload(test::uniform(12, 54), {2, 6});
      Tensor a = Tensor::empty({2, 6}, dev), b = Tensor::empty({2, 6}, dev), ja = Tensor::empty({2, 6}, dev), jb = Tensor::empty({2, 6}, dev);
      auto la = changed->linearize(ctx, xt, t, a);
      auto lb = direct.linearize(ctx, xt, t, b);
      CHECK(test::max_relative_error(test::download(a), test::download(b), 1e-3) < 1e-4);
      changed->jvp(ctx, *la, v, ja);
      direct.jvp(ctx, *lb, v, jb);
      CHECK(test::max_relative_error(test::download(ja), test::download(jb), 1e-3) < 1e-4);
      changed->vjp(ctx, *la, v, ja);
      direct.vjp(ctx, *lb, v, jb);
      CHECK(test::max_relative_error(test::download(ja), test::download(jb), 1e-3) < 1e-4);
      changed->denoise(ctx, xt, t, a);
      CHECK(test::max_relative_error(test::download(a), test::download(b), 1e-3) < 1e-4);
    }
    CHECK(changed->forward_count == trained->forward_count);
    CHECK(changed->jvp_count == trained->jvp_count);
  }
}

TEST_CASE("a process change clamps levels beyond the trained process's range to its ends") {
  Context& ctx = test::context();
  const Device dev = test::device();
  auto trained = std::make_shared<GaussianDenoiser>(small_prior(), process_from_spec("vp", "test"), dev);
  auto changed = make_process_change_denoiser(trained, process_from_spec("ve:sigma_max=1000", "test"));
  const Process& vp = trained->process();
  // At VE's sigma = 1000 (beyond VP's largest level, about 156) the VP denoiser runs at its t_max on
  // x_t rescaled by alpha_vp(t_max) / 1.
  Tensor xt = test::upload(test::uniform(6, 55, -3, 3), {1, 6});
  Tensor a = Tensor::empty({1, 6}, dev), b = Tensor::empty({1, 6}, dev);
  changed->denoise(ctx, xt, changed->process().t_max(), a);
  std::vector<double> s = test::download(xt);
  for (double& e : s) e *= vp.alpha(vp.t_max());
  trained->denoise(ctx, test::upload(s, {1, 6}), vp.t_max(), b);
  CHECK(test::max_relative_error(test::download(a), test::download(b), 1e-3) < 1e-5);
}

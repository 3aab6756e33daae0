// The training pieces of nn/: AdamW over a parameter set (clipping, schedule), the EMA with its
// warm-up, and fresh initialisation, each against double arithmetic written out here.
#include <cmath>

#include "nn/init.h"
#include "nn/mlp.h"
#include "nn/train/adamw.h"
#include "nn/train/ema.h"
#include "nn/unet.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::nn;

TEST_CASE("AdamW over two parameters: clipping by the global norm, warm-up and cosine decay, as written out in double") {
  ParameterSet params(test::device());
  Parameter* a = params.add("a.weight", {3, 5});
  Parameter* b = params.add("a.bias", {3});
  std::vector<std::vector<double>> value = {test::as_float(test::uniform(15, 1)), test::as_float(test::uniform(3, 2))};
  a->value.copy_from(test::upload(value[0], {3, 5}));
  b->value.copy_from(test::upload(value[1], {3}));
  AdamWOptions o;
  o.lr = 0.01, o.beta1 = 0.8, o.beta2 = 0.95, o.eps = 1e-6, o.weight_decay = 0.1, o.clip_norm = 1.5;
  o.warmup = 2, o.decay = "cosine", o.total_steps = 6;
  AdamW adam(params, o);
  std::vector<std::vector<double>> m = {std::vector<double>(15, 0.0), std::vector<double>(3, 0.0)}, v = m;
  for (int t = 1; t <= 6; ++t) {
    CAPTURE(t);
    // Gradient norms alternate above and below the clipping threshold.
    const double size = t % 2 ? 3.0 : 0.1;
    std::vector<std::vector<double>> g = {test::as_float(test::uniform(15, 10 * t, -size, size)), test::as_float(test::uniform(3, 10 * t + 1, -size, size))};
    a->gradient().copy_from(test::upload(g[0], {3, 5}));
    b->gradient().copy_from(test::upload(g[1], {3}));
    double norm = 0;
    for (auto& gi : g)
      for (double x : gi) norm += x * x;
    norm = std::sqrt(norm);
    const double lr = t <= 2 ? 0.01 * t / 2 : 0.005 * (1 + std::cos(3.14159265358979323846 * (t - 2) / 4.0));
    const double scale = norm > 1.5 ? 1.5 / (norm + 1e-6) : 1.0;
    StepReport r = adam.step(test::context());
    CHECK(r.grad_norm == doctest::Approx(norm).epsilon(1e-9));
    CHECK(r.clipped == (norm > 1.5));
    CHECK(r.lr == doctest::Approx(lr).epsilon(1e-12));
    for (int k = 0; k < 2; ++k)
      for (std::size_t i = 0; i < g[k].size(); ++i) {
        double& p = value[k][i];
        double gi = scale * g[k][i];
        p *= 1 - lr * o.weight_decay;
        m[k][i] = o.beta1 * m[k][i] + (1 - o.beta1) * gi;
        v[k][i] = o.beta2 * v[k][i] + (1 - o.beta2) * gi * gi;
        p -= lr * m[k][i] / (1 - std::pow(o.beta1, t)) / (std::sqrt(v[k][i] / (1 - std::pow(o.beta2, t))) + o.eps);
      }
  }
  CHECK(adam.steps() == 6);
  CHECK(test::max_relative_error(test::download(a->value), value[0]) < 1e-5);
  CHECK(test::max_relative_error(test::download(b->value), value[1]) < 1e-5);
  CHECK(test::max_relative_error(test::download(adam.first_moments()[0]), m[0]) < 1e-5);
  CHECK(test::max_relative_error(test::download(adam.second_moments()[1]), v[1]) < 1e-5);
  CHECK(o.learning_rate(6) == doctest::Approx(0.0).scale(1));
}

TEST_CASE("AdamW refuses a non-finite gradient before changing anything, and bad options by flag") {
  ParameterSet params(test::device());
  Parameter* w = params.add("w", {4});
  w->value.copy_from(test::upload(std::vector<double>{1, 2, 3, 4}, {4}));
  w->gradient().copy_from(test::upload(std::vector<double>{0, NAN, 0, 0}, {4}));
  AdamW adam(params, AdamWOptions{});
  CHECK_THROWS_WITH_AS(adam.step(test::context()), "the gradient of parameter w has NaN or infinite values", NumericError);
  CHECK(test::download(w->value) == std::vector<double>{1, 2, 3, 4});
  CHECK(adam.steps() == 0);
  auto refused = [](AdamWOptions o, const char* text) { CHECK_THROWS_WITH_AS(o.validate(), doctest::Contains(text), ArgumentError); };
  AdamWOptions o;
  o.lr = 0;
  refused(o, "--lr 0");
  o = {}, o.beta2 = 1;
  refused(o, "--betas");
  o = {}, o.decay = "linear";
  refused(o, "--lr-decay 'linear'");
  o = {}, o.decay = "cosine", o.warmup = 10, o.total_steps = 10;
  refused(o, "needs more steps");
}

TEST_CASE("EMA: starts at the weights, moves by min(decay, (1 + s) / (10 + s)) per step") {
  ParameterSet params(test::device());
  Parameter* w = params.add("w", {2});
  w->value.copy_from(test::upload(std::vector<double>{1, -1}, {2}));
  Ema ema(params, 0.5);
  CHECK(test::download(ema.values()[0]) == std::vector<double>{1, -1});
  double e = 1;
  for (int s = 1; s <= 12; ++s) {
    w->value.copy_from(test::upload(std::vector<double>{double(s), 0}, {2}));
    ema.update(test::context(), params, s);
    double d = std::min(0.5, (1.0 + s) / (10.0 + s));
    CHECK(ema.decay_at(s) == doctest::Approx(d));
    e = d * e + (1 - d) * s;
  }
  CHECK(test::download(ema.values()[0])[0] == doctest::Approx(e).epsilon(1e-6));
  CHECK_THROWS_AS(Ema(params, 1.0), ArgumentError);
}

TEST_CASE("fresh U-Net and MLP weights: PyTorch's bounds, unit GroupNorm scales, zeroed output and residual branches") {
  UNetConfig c;
  c.image_size = 8, c.in_channels = 1, c.out_channels = 1, c.model_channels = 32, c.num_res_blocks = 1;
  c.channel_mult = {1, 2}, c.attention_resolutions = {2}, c.num_heads = 2, c.num_classes = 3;
  UNet unet(c, test::device());
  initialize_parameters(test::context(), unet, 5);
  int zeroed = 0, uniform = 0;
  for (Parameter* p : unet.parameters().all()) {
    CAPTURE(p->name);
    std::vector<double> v = test::download(p->value);
    const std::string layer = p->name.substr(0, p->name.rfind('.'));
    const bool is_weight = p->name.size() > 7 && p->name.compare(p->name.size() - 7, 7, ".weight") == 0;
    if (layer == "out.2" || layer.find(".out_layers.3") != std::string::npos || layer.find(".proj_out") != std::string::npos) {
      for (double x : v) CHECK(x == 0);
      ++zeroed;
      continue;
    }
    if (p->name == "label_emb.weight") {
      double sum2 = 0;
      for (double x : v) sum2 += x * x;
      CHECK(sum2 / double(v.size()) == doctest::Approx(1.0).epsilon(0.15));
      continue;
    }
    Parameter* weight = unet.parameters().find(layer + ".weight");
    REQUIRE(weight);
    if (weight->value.rank() == 1) {  // GroupNorm
      for (double x : v) CHECK(x == (is_weight ? 1.0 : 0.0));
      continue;
    }
    // U(-1/sqrt(fan_in), 1/sqrt(fan_in)): inside the bound, variance bound^2 / 3.
    const double bound = 1 / std::sqrt(double(weight->value.numel() / weight->value.dim(0)));
    double sum2 = 0, top = 0;
    for (double x : v) sum2 += x * x, top = std::max(top, std::abs(x));
    CHECK(top <= bound);
    if (v.size() >= 500) CHECK(sum2 / double(v.size()) == doctest::Approx(bound * bound / 3).epsilon(0.15));
    ++uniform;
  }
  CHECK(zeroed >= 2 * 4 + 2);  // each ResBlock's last conv (weight, bias), attention's proj_out, out.2
  CHECK(uniform > 20);

  Mlp mlp(MlpConfig{}, test::device());
  initialize_parameters(test::context(), mlp, 5);
  for (double x : test::download(mlp.parameters().find("output.weight")->value)) CHECK(x == 0);
  std::vector<double> first = test::download(mlp.parameters().find("input.weight")->value);
  initialize_parameters(test::context(), mlp, 5);
  CHECK(test::download(mlp.parameters().find("input.weight")->value) == first);  // a function of the seed alone
}

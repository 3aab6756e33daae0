#include "nn/mlp.h"

#include <nlohmann/json.hpp>

#include "kernels/axpby.h"
#include "kernels/map.h"
#include "nn/timestep.h"
#include "runtime/check.h"

namespace tweedie::nn {

struct Mlp::State : Linearization {
  Linear::State te0, te2, input, output;
  std::vector<Linear::State> blocks;
  Tensor te_hidden;             // time_embed.0 output, before SiLU
  std::vector<Tensor> h;        // h before each block, and the final h (depth + 1 tensors)
};

MlpConfig MlpConfig::from_json(const std::string& text, const std::string& where) {
  MlpConfig c;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    c.dim = j.at("dim").get<std::int64_t>();
    c.hidden = j.at("hidden").get<std::int64_t>();
    c.depth = j.at("depth").get<std::int64_t>();
    c.emb_dim = j.at("emb_dim").get<std::int64_t>();
    c.out_dim = j.value("out_dim", std::int64_t(0));
  } catch (const nlohmann::json::exception& e) {
    throw ArgumentError(cat(where, ": not an MLP config {dim, hidden, depth, emb_dim} (", e.what(), ")"));
  }
  c.validate(where);
  return c;
}

std::string MlpConfig::to_json() const {
  nlohmann::json j{{"dim", dim}, {"hidden", hidden}, {"depth", depth}, {"emb_dim", emb_dim}};
  if (out_dim > 0) j["out_dim"] = out_dim;
  return j.dump();
}

void MlpConfig::validate(const std::string& where) const {
  if (dim < 1 || hidden < 1 || depth < 0 || emb_dim < 2 || out_dim < 0)
    throw ArgumentError(cat(where, ": MLP sizes must be positive (dim ", dim, ", hidden ", hidden, ", depth ", depth,
                            ", emb_dim ", emb_dim, " >= 2, out_dim ", out_dim, " >= 0)"));
}

Mlp::Mlp(const MlpConfig& config, Device device) : config_(config), params_(device) {
  config_.validate("MLP config");
  time_embed_0_ = Linear(params_, "time_embed.0", config.emb_dim, config.hidden);
  time_embed_2_ = Linear(params_, "time_embed.2", config.hidden, config.hidden);
  input_ = Linear(params_, "input", config.dim, config.hidden);
  for (std::int64_t i = 0; i < config.depth; ++i) blocks_.emplace_back(params_, cat("blocks.", i), config.hidden, config.hidden);
  output_ = Linear(params_, "output", config.hidden, config.outputs());
}

Shape Mlp::output_shape(const Shape& x) const {
  if (x.rank() != 2 || x[1] != config_.dim) throw ShapeError(cat("mlp: input ", x.str(), " is not (N, ", config_.dim, ")"));
  return Shape{x[0], config_.outputs()};
}

void Mlp::run(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y, State* s) const {
  expect_tensor(ctx, "mlp", "x", x);
  expect_shape("mlp", "y", y, output_shape(x.shape()));
  std::int64_t n = x.dim(0), H = config_.hidden;
  Device dev = x.device();
  if (!c.labels.empty()) throw ArgumentError("mlp: labels given, but the model is not class-conditional");
  Tensor temb = timestep_embedding(times_for(c, n, "mlp"), config_.emb_dim, dev);
  Tensor t1 = Tensor::empty({n, H}, dev), emb = Tensor::empty({n, H}, dev), h = Tensor::empty({n, H}, dev);
  if (s) time_embed_0_.linearize(ctx, temb, t1, s->te0);
  else time_embed_0_.forward(ctx, temb, t1);
  Tensor a = Tensor::empty({n, H}, dev);
  silu(ctx, t1, a);
  if (s) {
    time_embed_2_.linearize(ctx, a, emb, s->te2);
    input_.linearize(ctx, x, h, s->input);
  } else {
    time_embed_2_.forward(ctx, a, emb);
    input_.forward(ctx, x, h);
  }
  axpby(ctx, 1.0f, emb, 1.0f, h);
  if (s) {
    s->te_hidden = t1;
    s->batch = n;
    s->blocks.resize(blocks_.size());
  }
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    if (s) s->h.push_back(h);
    Tensor act = Tensor::empty({n, H}, dev), out = Tensor::empty({n, H}, dev), next = Tensor::empty({n, H}, dev);
    silu(ctx, h, act);
    if (s) blocks_[i].linearize(ctx, act, out, s->blocks[i]);
    else blocks_[i].forward(ctx, act, out);
    add(ctx, h, out, next);
    h = next;
  }
  if (s) s->h.push_back(h);
  Tensor act = Tensor::empty({n, H}, dev);
  silu(ctx, h, act);
  if (s) output_.linearize(ctx, act, y, s->output);
  else output_.forward(ctx, act, y);
}

void Mlp::forward(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const { run(ctx, x, c, y, nullptr); }

std::unique_ptr<Linearization> Mlp::linearize(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const {
  auto s = std::make_unique<State>();
  run(ctx, x, c, y, s.get());
  return s;
}

void Mlp::jvp(Context& ctx, const Linearization& lin, const Tensor& dx, Tensor& dy) const {
  const State& s = dynamic_cast<const State&>(lin);
  expect_tensor(ctx, "mlp", "dx", dx);
  if (dx.rank() != 2 || dx.dim(1) != config_.dim || dx.dim(0) % s.batch)
    throw ShapeError(cat("mlp: tangent ", dx.str(), " is not a whole number of copies of a (", s.batch, ", ", config_.dim, ") input"));
  expect_shape("mlp", "dy", dy, {dx.dim(0), config_.outputs()});
  std::int64_t b = dx.dim(0), n = s.batch, H = config_.hidden;
  Device dev = dx.device();
  // silu'(h) of the linearization point, repeated for each tangent copy.
  auto slope_at = [&](const Tensor& h) {
    Tensor g = Tensor::empty({n, H}, dev);
    silu_grad(ctx, h, g);
    if (b == n) return g;
    Tensor r = Tensor::empty({b, H}, dev);
    for (std::int64_t k = 0; k < b / n; ++k) r.slice(k * n, n).copy_from(g);
    return r;
  };
  Tensor dh = Tensor::empty({b, H}, dev);
  input_.jvp(ctx, dx, dh);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    Tensor da = Tensor::empty({b, H}, dev), dout = Tensor::empty({b, H}, dev);
    mul(ctx, slope_at(s.h[i]), dh, da);
    blocks_[i].jvp(ctx, da, dout);
    axpby(ctx, 1.0f, dout, 1.0f, dh);
  }
  Tensor da = Tensor::empty({b, H}, dev);
  mul(ctx, slope_at(s.h.back()), dh, da);
  output_.jvp(ctx, da, dy);
}

void Mlp::vjp(Context& ctx, const Linearization& lin, const Tensor& gy, Tensor& gx, bool param_grads) const {
  const State& s = dynamic_cast<const State&>(lin);
  std::int64_t n = s.batch, H = config_.hidden;
  expect_shape("mlp", "gy", gy, {n, config_.outputs()});
  expect_shape("mlp", "gx", gx, {n, config_.dim});
  Device dev = gy.device();
  Tensor slope = Tensor::empty({n, H}, dev), gh = Tensor::empty({n, H}, dev);
  output_.vjp(ctx, s.output, gy, &gh, false, param_grads);
  silu_grad(ctx, s.h.back(), slope);
  mul(ctx, gh, slope, gh);
  for (std::size_t i = blocks_.size(); i-- > 0;) {  // h_{i+1} = h_i + W SiLU(h_i): gh_i = gh + SiLU'(h_i) W^T gh
    Tensor ga = Tensor::empty({n, H}, dev);
    blocks_[i].vjp(ctx, s.blocks[i], gh, &ga, false, param_grads);
    silu_grad(ctx, s.h[i], slope);
    mul(ctx, ga, slope, ga);
    axpby(ctx, 1.0f, ga, 1.0f, gh);
  }
  input_.vjp(ctx, s.input, gh, &gx, false, param_grads);
  if (!param_grads) return;
  Tensor g_a = Tensor::empty({n, H}, dev);  // h0 = input(x) + emb: emb's cotangent is gh
  time_embed_2_.vjp(ctx, s.te2, gh, &g_a, false, true);
  silu_grad(ctx, s.te_hidden, slope);
  mul(ctx, g_a, slope, g_a);
  time_embed_0_.vjp(ctx, s.te0, g_a, nullptr, false, true);
}

}  // namespace tweedie::nn

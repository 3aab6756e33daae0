#include "nn/unet.h"

#include <algorithm>

#include "kernels/axpby.h"
#include "kernels/concat.h"
#include "kernels/map.h"
#include "nn/timestep.h"
#include "runtime/check.h"

namespace tweedie::nn {

// The linearization: every layer's state, block by block, and the embedding path.
struct UNet::State : Linearization {
  struct BlockState {
    std::vector<LayerState> layers;
    std::vector<Shape> inputs;  // each layer's input shape, for allocating cotangents
  };
  Shape x;
  Linear::State time_embed_0, time_embed_2;
  Tensor h1, emb;               // before their SiLUs
  std::vector<std::int64_t> labels;
  std::vector<BlockState> input, output;
  BlockState middle;
  std::vector<std::int64_t> split;  // per output block: channels of h in cat(h, skip)
  NormAct::State out_norm;
  Conv::State out_conv;
};

namespace {

using Layer = UNet::Layer;
using LayerState = UNet::LayerState;
using Block = UNet::Block;
using BlockState = UNet::State::BlockState;

template <class T, class V>
constexpr bool is = std::is_same_v<std::decay_t<V>, T>;

Shape layer_output(const Layer& layer, const Shape& x) {
  return std::visit([&](const auto& l) { return l.output_shape(x); }, layer);
}

void layer_forward(Context& ctx, const Layer& layer, const Tensor& x, const Tensor& emb_act, Tensor& y, LayerState* state) {
  std::visit(
      [&](const auto& l) {
        using L = std::decay_t<decltype(l)>;
        if (state) {
          auto& s = state->template emplace<typename L::State>();
          if constexpr (is<ResBlock, L>) l.linearize(ctx, x, emb_act, y, s);
          else l.linearize(ctx, x, y, s);
        } else {
          if constexpr (is<ResBlock, L>) l.forward(ctx, x, emb_act, y);
          else l.forward(ctx, x, y);
        }
      },
      layer);
}

void layer_jvp(Context& ctx, const Layer& layer, const LayerState& state, const Tensor& dx, Tensor& dy) {
  std::visit(
      [&](const auto& l) {
        using L = std::decay_t<decltype(l)>;
        if constexpr (is<Conv, L> || is<Resampler, L>) l.jvp(ctx, dx, dy);
        else l.jvp(ctx, std::get<typename L::State>(state), dx, dy);
      },
      layer);
}

void layer_vjp(Context& ctx, const Layer& layer, const LayerState& state, const Tensor& gy, Tensor& gx, Tensor* g_emb_act,
               bool param_grads) {
  std::visit(
      [&](const auto& l) {
        using L = std::decay_t<decltype(l)>;
        const auto& s = std::get<typename L::State>(state);
        if constexpr (is<ResBlock, L>) l.vjp(ctx, s, gy, gx, false, g_emb_act, param_grads);
        else l.vjp(ctx, s, gy, gx, false, param_grads);
      },
      layer);
}

Tensor block_forward(Context& ctx, const Block& block, Tensor h, const Tensor& emb_act, BlockState* state) {
  for (const Layer& layer : block.layers) {
    Tensor y = Tensor::empty(layer_output(layer, h.shape()), h.device());
    if (state) state->inputs.push_back(h.shape());
    layer_forward(ctx, layer, h, emb_act, y, state ? &state->layers.emplace_back() : nullptr);
    h = y;
  }
  return h;
}

Tensor block_jvp(Context& ctx, const Block& block, const BlockState& state, Tensor dh) {
  for (std::size_t i = 0; i < block.layers.size(); ++i) {
    Tensor dy = Tensor::empty(layer_output(block.layers[i], dh.shape()), dh.device());
    layer_jvp(ctx, block.layers[i], state.layers[i], dh, dy);
    dh = dy;
  }
  return dh;
}

Tensor block_vjp(Context& ctx, const Block& block, const BlockState& state, Tensor g, Tensor* g_emb_act, bool param_grads) {
  for (std::size_t i = block.layers.size(); i-- > 0;) {
    Tensor gx = Tensor::empty(state.inputs[i], g.device());
    layer_vjp(ctx, block.layers[i], state.layers[i], g, gx, g_emb_act, param_grads);
    g = gx;
  }
  return g;
}

// The shape of `like` with `channels` channels.
Shape with_channels(const Shape& like, std::int64_t channels) {
  std::vector<std::int64_t> d(like.dims().begin(), like.dims().end());
  d[1] = channels;
  return Shape(d);
}

}  // namespace

UNet::UNet(const UNetConfig& config, Device device) : config_(config), params_(device) {
  const UNetConfig& c = config_;
  c.validate("U-Net config");
  const std::int64_t E = 4 * c.model_channels;
  const bool ss = c.use_scale_shift_norm, legacy = !c.use_new_attention_order;
  auto has_attention = [&](std::int64_t ds) {
    return std::find(c.attention_resolutions.begin(), c.attention_resolutions.end(), ds) != c.attention_resolutions.end();
  };
  time_embed_0_ = Linear(params_, "time_embed.0", c.model_channels, E);
  time_embed_2_ = Linear(params_, "time_embed.2", E, E);
  if (c.num_classes > 0) label_emb_ = params_.add("label_emb.weight", {c.num_classes, E});

  std::int64_t ch = c.channels(0), ds = 1;
  const std::int64_t input_ch = ch;
  input_blocks_.push_back({{Conv(params_, "input_blocks.0.0", {c.dims, c.in_channels, ch, 3, 1, 1, true})}});
  std::vector<std::int64_t> kept{ch};  // channels of each input block's output, consumed by the decoder
  const std::size_t levels = c.channel_mult.size();
  for (std::size_t level = 0; level < levels; ++level) {
    for (std::int64_t r = 0; r < c.num_res_blocks; ++r) {
      std::string prefix = cat("input_blocks.", input_blocks_.size());
      Block b;
      std::int64_t out = c.channels(level);
      b.layers.emplace_back(ResBlock(params_, prefix + ".0", {c.dims, ch, out, E, ss, Resample::none}));
      ch = out;
      if (has_attention(ds)) b.layers.emplace_back(Attention(params_, prefix + ".1", {ch, c.heads_for(ch, false), legacy}));
      input_blocks_.push_back(std::move(b));
      kept.push_back(ch);
    }
    if (level + 1 != levels) {
      std::string prefix = cat("input_blocks.", input_blocks_.size(), ".0");
      Block b;
      if (c.resblock_updown) b.layers.emplace_back(ResBlock(params_, prefix, {c.dims, ch, ch, E, ss, Resample::down}));
      else b.layers.emplace_back(Resampler(params_, prefix, Resample::down, c.dims, ch, c.conv_resample));
      input_blocks_.push_back(std::move(b));
      kept.push_back(ch);
      ds *= 2;
    }
  }
  middle_block_.layers.emplace_back(ResBlock(params_, "middle_block.0", {c.dims, ch, ch, E, ss, Resample::none}));
  middle_block_.layers.emplace_back(Attention(params_, "middle_block.1", {ch, c.heads_for(ch, false), legacy}));
  middle_block_.layers.emplace_back(ResBlock(params_, "middle_block.2", {c.dims, ch, ch, E, ss, Resample::none}));
  for (std::size_t level = levels; level-- > 0;) {
    for (std::int64_t i = 0; i <= c.num_res_blocks; ++i) {
      std::string prefix = cat("output_blocks.", output_blocks_.size());
      std::int64_t skip = kept.back();
      kept.pop_back();
      Block b;
      std::int64_t out = c.channels(level);
      b.layers.emplace_back(ResBlock(params_, prefix + ".0", {c.dims, ch + skip, out, E, ss, Resample::none}));
      ch = out;
      if (has_attention(ds)) b.layers.emplace_back(Attention(params_, prefix + ".1", {ch, c.heads_for(ch, true), legacy}));
      if (level > 0 && i == c.num_res_blocks) {
        std::string up = cat(prefix, ".", b.layers.size());
        if (c.resblock_updown) b.layers.emplace_back(ResBlock(params_, up, {c.dims, ch, ch, E, ss, Resample::up}));
        else b.layers.emplace_back(Resampler(params_, up, Resample::up, c.dims, ch, c.conv_resample));
        ds /= 2;
      }
      output_blocks_.push_back(std::move(b));
    }
  }
  out_norm_ = NormAct(params_, "out.0", {ch, 32, 1e-5f, true});
  out_conv_ = Conv(params_, "out.2", {c.dims, input_ch, c.out_channels, 3, 1, 1, true});
}

void UNet::check_input(const Shape& x) const {
  const UNetConfig& c = config_;
  if (x.rank() != c.dims + 2 || x[1] != c.in_channels)
    throw ShapeError(cat("adm-unet: input ", x.str(), " is not (N, ", c.in_channels, c.dims == 2 ? ", H, W)" : ", L)"));
  std::int64_t factor = std::int64_t(1) << (c.channel_mult.size() - 1);
  for (int a = 2; a < x.rank(); ++a)
    if (x[a] % factor)
      throw ShapeError(cat("adm-unet: input ", x.str(), " has a spatial size not divisible by ", factor,
                           " (the model halves it ", c.channel_mult.size() - 1, " times)"));
}

Shape UNet::output_shape(const Shape& x) const {
  check_input(x);
  return with_channels(x, config_.out_channels);
}

Tensor UNet::embedding(Context& ctx, const Tensor& x, const Conditioning& c, State* state) const {
  std::int64_t n = x.dim(0), E = 4 * config_.model_channels;
  Device dev = x.device();
  std::vector<float> t = times_for(c, n, "adm-unet");
  std::vector<std::int64_t> labels;
  if (config_.num_classes > 0) {
    if (c.labels.size() != 1 && std::int64_t(c.labels.size()) != n)
      throw ArgumentError(cat("adm-unet: the model is class-conditional (", config_.num_classes, " classes): give one label, or one per item; got ",
                              c.labels.size(), " for a batch of ", n));
    for (std::int64_t b = 0; b < n; ++b) {
      std::int64_t label = c.labels.size() == 1 ? c.labels[0] : c.labels[std::size_t(b)];
      if (label < 0 || label >= config_.num_classes)
        throw ArgumentError(cat("adm-unet: label ", label, " outside [0, ", config_.num_classes, ")"));
      labels.push_back(label);
    }
  } else if (!c.labels.empty()) {
    throw ArgumentError("adm-unet: labels given, but the model is not class-conditional");
  }
  Tensor temb = timestep_embedding(t, config_.model_channels, dev);
  Tensor h1 = Tensor::empty({n, E}, dev), a1 = Tensor::empty({n, E}, dev), emb = Tensor::empty({n, E}, dev);
  if (state) time_embed_0_.linearize(ctx, temb, h1, state->time_embed_0);
  else time_embed_0_.forward(ctx, temb, h1);
  silu(ctx, h1, a1);
  if (state) time_embed_2_.linearize(ctx, a1, emb, state->time_embed_2);
  else time_embed_2_.forward(ctx, a1, emb);
  for (std::int64_t b = 0; b < std::int64_t(labels.size()); ++b) {
    Tensor row = emb.slice(b, 1);
    axpby(ctx, 1.0f, label_emb_->value.slice(labels[std::size_t(b)], 1), 1.0f, row);
  }
  Tensor emb_act = Tensor::empty({n, E}, dev);
  silu(ctx, emb, emb_act);
  if (state) {
    state->h1 = h1;
    state->emb = emb;
    state->labels = labels;
  }
  return emb_act;
}

void UNet::run(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y, State* state) const {
  expect_tensor(ctx, "adm-unet", "x", x);
  expect_tensor(ctx, "adm-unet", "y", y);
  expect_shape("adm-unet", "y", y, output_shape(x.shape()));
  Tensor emb_act = embedding(ctx, x, c, state);
  if (state) {
    state->x = x.shape();
    state->batch = x.dim(0);
    state->input.resize(input_blocks_.size());
    state->output.resize(output_blocks_.size());
  }
  std::vector<Tensor> kept;
  Tensor h = x;
  for (std::size_t i = 0; i < input_blocks_.size(); ++i) {
    h = block_forward(ctx, input_blocks_[i], h, emb_act, state ? &state->input[i] : nullptr);
    kept.push_back(h);
  }
  h = block_forward(ctx, middle_block_, h, emb_act, state ? &state->middle : nullptr);
  for (std::size_t j = 0; j < output_blocks_.size(); ++j) {
    Tensor skip = kept.back();
    kept.pop_back();
    Tensor joined = Tensor::empty(with_channels(h.shape(), h.dim(1) + skip.dim(1)), x.device());
    concat_channels(ctx, {h, skip}, joined);
    if (state) state->split.push_back(h.dim(1));
    h = block_forward(ctx, output_blocks_[j], joined, emb_act, state ? &state->output[j] : nullptr);
  }
  Tensor a = Tensor::empty(h.shape(), x.device());
  if (state) {
    out_norm_.linearize(ctx, h, Tensor(), a, state->out_norm);
    out_conv_.linearize(ctx, a, y, state->out_conv);
  } else {
    out_norm_.forward(ctx, h, Tensor(), a);
    out_conv_.forward(ctx, a, y);
  }
}

void UNet::forward(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const { run(ctx, x, c, y, nullptr); }

std::unique_ptr<Linearization> UNet::linearize(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const {
  auto state = std::make_unique<State>();
  run(ctx, x, c, y, state.get());
  return state;
}

void UNet::jvp(Context& ctx, const Linearization& lin, const Tensor& dx, Tensor& dy) const {
  const State& s = dynamic_cast<const State&>(lin);
  expect_tensor(ctx, "adm-unet", "dx", dx);
  expect_tensor(ctx, "adm-unet", "dy", dy);
  if (dx.rank() != s.x.rank() || dx.dim(0) % s.batch || with_channels(dx.shape(), s.x[1]) != dx.shape() ||
      dx.numel() / dx.dim(0) != s.x.numel() / s.batch)
    throw ShapeError(cat("adm-unet: tangent ", dx.str(), " is not a whole number of copies of the input ", s.x.str()));
  expect_shape("adm-unet", "dy", dy, with_channels(dx.shape(), config_.out_channels));
  std::vector<Tensor> kept;
  Tensor dh = dx;
  for (std::size_t i = 0; i < input_blocks_.size(); ++i) {
    dh = block_jvp(ctx, input_blocks_[i], s.input[i], dh);
    kept.push_back(dh);
  }
  dh = block_jvp(ctx, middle_block_, s.middle, dh);
  for (std::size_t j = 0; j < output_blocks_.size(); ++j) {
    Tensor skip = kept.back();
    kept.pop_back();
    Tensor joined = Tensor::empty(with_channels(dh.shape(), dh.dim(1) + skip.dim(1)), dx.device());
    concat_channels(ctx, {dh, skip}, joined);
    dh = block_jvp(ctx, output_blocks_[j], s.output[j], joined);
  }
  Tensor da = Tensor::empty(dh.shape(), dx.device());
  out_norm_.jvp(ctx, s.out_norm, dh, da);
  out_conv_.jvp(ctx, da, dy);
}

void UNet::vjp(Context& ctx, const Linearization& lin, const Tensor& gy, Tensor& gx, bool param_grads) const {
  const State& s = dynamic_cast<const State&>(lin);
  expect_tensor(ctx, "adm-unet", "gy", gy);
  expect_tensor(ctx, "adm-unet", "gx", gx);
  expect_shape("adm-unet", "gy", gy, with_channels(s.x, config_.out_channels));
  expect_shape("adm-unet", "gx", gx, s.x);
  Device dev = gy.device();
  std::int64_t n = s.batch, E = 4 * config_.model_channels;
  Tensor ga = Tensor::empty(s.out_conv.x.shape(), dev), gh = Tensor::empty(s.out_norm.x.shape(), dev);
  out_conv_.vjp(ctx, s.out_conv, gy, ga, false, param_grads);
  out_norm_.vjp(ctx, s.out_norm, ga, gh, false, nullptr, param_grads);
  Tensor g_emb_act = param_grads ? Tensor::zeros({n, E}, dev) : Tensor();
  Tensor* gea = param_grads ? &g_emb_act : nullptr;
  std::vector<Tensor> g_kept(input_blocks_.size());
  for (std::size_t j = output_blocks_.size(); j-- > 0;) {
    Tensor g_joined = block_vjp(ctx, output_blocks_[j], s.output[j], gh, gea, param_grads);
    std::vector<Tensor> parts = {Tensor::empty(with_channels(g_joined.shape(), s.split[j]), dev),
                                 Tensor::empty(with_channels(g_joined.shape(), g_joined.dim(1) - s.split[j]), dev)};
    split_channels(ctx, g_joined, parts);
    gh = parts[0];
    g_kept[input_blocks_.size() - 1 - j] = parts[1];  // output block j consumed the j-th kept tensor from the end
  }
  gh = block_vjp(ctx, middle_block_, s.middle, gh, gea, param_grads);
  for (std::size_t i = input_blocks_.size(); i-- > 0;) {
    axpby(ctx, 1.0f, g_kept[i], 1.0f, gh);  // the block's output also went to the decoder
    gh = block_vjp(ctx, input_blocks_[i], s.input[i], gh, gea, param_grads);
  }
  gx.copy_from(gh);
  if (!param_grads) return;
  // The embedding path: emb_act = SiLU(emb), emb = time_embed.2(SiLU(time_embed.0(temb))) + label_emb[y].
  Tensor g = Tensor::empty({n, E}, dev), slope = Tensor::empty({n, E}, dev);
  silu_grad(ctx, s.emb, slope);
  mul(ctx, g_emb_act, slope, g);
  for (std::size_t b = 0; b < s.labels.size(); ++b) {
    Tensor row = label_emb_->gradient().slice(s.labels[b], 1);
    axpby(ctx, 1.0f, g.slice(std::int64_t(b), 1), 1.0f, row);
  }
  Tensor g_a1 = Tensor::empty({n, E}, dev);
  time_embed_2_.vjp(ctx, s.time_embed_2, g, &g_a1, false, true);
  silu_grad(ctx, s.h1, slope);
  mul(ctx, g_a1, slope, g_a1);
  time_embed_0_.vjp(ctx, s.time_embed_0, g_a1, nullptr, false, true);
}

}  // namespace tweedie::nn

#pragma once
// ADM's AttentionBlock: multi-head self-attention over the spatial positions of (N, C, ...), with a
// residual connection:
//
//   h   = GroupNorm(x)                      (N, C, T), T = number of positions
//   qkv = W_qkv h + b                       (N, 3C, T)  1x1 convolution `qkv`
//   per head: S = q^T k / sqrt(ch), A = softmax over keys, a = v A^T      (ch = C / heads)
//   y   = x + W_proj a + b                   1x1 convolution `proj_out`
//
// Heads are laid out in qkv either as guided-diffusion's legacy order (per head: q, k, v) or its
// "new" order (all q, then all k, then all v). Linearization keeps h, qkv and a, and of the attention
// weights A only two numbers per row: tangents and cotangents rebuild A block by block
// (kernels/attention.h), so that memory grows with T, not T^2.
#include <cstdint>
#include <string>

#include "nn/conv.h"
#include "nn/norm_act.h"
#include "nn/parameter.h"

namespace tweedie::nn {

struct AttentionSpec {
  std::int64_t channels = 0;
  std::int64_t heads = 1;
  bool legacy_order = true;  // use_new_attention_order = false
};

class Attention {
 public:
  Attention() = default;
  // Parameters `prefix.norm.*`, `prefix.qkv.*`, `prefix.proj_out.*`.
  Attention(ParameterSet& params, const std::string& prefix, const AttentionSpec& spec);

  Shape output_shape(const Shape& x) const { return x; }

  struct State {
    NormAct::State norm;
    Conv::State qkv;      // its input h
    Tensor qkv_out;       // (N, 3C, T)
    Tensor row_stats;     // (N, heads, T, 2): each row of A's maximum score and 1 / sum (kernels/attention.h)
    Conv::State proj;     // its input a
  };
  void forward(Context& ctx, const Tensor& x, Tensor& y) const;
  void linearize(Context& ctx, const Tensor& x, Tensor& y, State& state) const;
  // Tangent batch may be a multiple of the linearized batch (tangent b belongs to item b % N).
  void jvp(Context& ctx, const State& state, const Tensor& dx, Tensor& dy) const;
  void vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, bool param_grads) const;

 private:
  void run(Context& ctx, const Tensor& x, Tensor& y, State* state) const;

  std::string name_;
  AttentionSpec spec_;
  NormAct norm_;
  Conv qkv_, proj_;
};

}  // namespace tweedie::nn

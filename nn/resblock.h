#pragma once
// ADM's ResBlock, conditioned on the time embedding:
//
//   h = SiLU(GN(x))                                    in_layers.0 (+ in_layers.1)
//   h, x' = resample(h), resample(x)                   with up/down (resblock_updown)
//   h = conv3x3(h)                                     in_layers.2
//   e = W SiLU(emb) + b                                emb_layers.1: (N, 2C) or (N, C)
//   h = SiLU(GN(h) (1 + scale) + shift)                out_layers.0, with scale, shift = e
//     or SiLU(GN(h + e))                               without use_scale_shift_norm
//   y = skip(x') + conv3x3(h)                          out_layers.3; skip = 1x1 conv when C changes
//
// SiLU(emb) is the same for every block of a model, so the model computes it once and passes it in;
// tangents are taken in x only, so the embedding is a constant for them. The cotangent of SiLU(emb)
// is returned (accumulated) for parameter gradients upstream.
#include <cstdint>
#include <string>

#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/norm_act.h"
#include "nn/parameter.h"
#include "nn/resample.h"

namespace tweedie::nn {

struct ResBlockSpec {
  int dims = 2;
  std::int64_t in = 0, out = 0, emb = 0;
  bool scale_shift = false;
  Resample resample = Resample::none;
};

class ResBlock {
 public:
  ResBlock() = default;
  ResBlock(ParameterSet& params, const std::string& prefix, const ResBlockSpec& spec);

  Shape output_shape(const Shape& x) const;
  struct State {
    NormAct::State in_norm;
    Conv::State in_conv;
    Linear::State emb;
    NormAct::State out_norm;
    Conv::State out_conv;
    Conv::State skip;  // its input x' (also when the skip is the identity)
    Shape x;
  };
  // emb_act = SiLU(emb), (N, E).
  void forward(Context& ctx, const Tensor& x, const Tensor& emb_act, Tensor& y) const;
  void linearize(Context& ctx, const Tensor& x, const Tensor& emb_act, Tensor& y, State& state) const;
  void jvp(Context& ctx, const State& state, const Tensor& dx, Tensor& dy) const;
  // gx (=, or += when accumulate); with param_grads, g_emb_act (N, E) += the cotangent of SiLU(emb)
  // and parameter gradients accumulate.
  void vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, Tensor* g_emb_act,
           bool param_grads) const;

 private:
  void run(Context& ctx, const Tensor& x, const Tensor& emb_act, Tensor& y, State* state) const;

  ResBlockSpec spec_;
  NormAct in_norm_, out_norm_;
  Conv in_conv_, out_conv_, skip_;
  Linear emb_;
  bool has_skip_conv_ = false;
};

}  // namespace tweedie::nn

#pragma once
// The ADM / guided-diffusion U-Net (Dhariwal & Nichol 2021), with the state_dict names of
// guided_diffusion.unet.UNetModel, so its checkpoints map one to one.
//
//   emb = time_embed(timestep_embedding(t)) [+ label_emb(y)]
//   h = x; for each input block: h = block(h, emb), keep h
//   h = middle_block(h, emb)
//   for each output block: h = block(cat(h, kept.pop()), emb)
//   y = out(h) = conv3x3(SiLU(GN(h)))
//
// Input blocks are a 3x3 conv, then per level num_res_blocks ResBlocks (each with attention where the
// downsample rate is listed) and, between levels, a downsampling ResBlock or Downsample; the output
// blocks mirror them. forward / linearize / jvp / vjp call the blocks' own four functions in order.
#include <memory>
#include <variant>
#include <vector>

#include "nn/attention.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/network.h"
#include "nn/norm_act.h"
#include "nn/resblock.h"
#include "nn/resample.h"
#include "nn/unet_config.h"

namespace tweedie::nn {

class UNet final : public Network {
 public:
  UNet(const UNetConfig& config, Device device);

  std::string architecture() const override { return "adm-unet"; }
  std::string config_json() const override { return config_.to_json(); }
  const UNetConfig& config() const { return config_; }
  Shape output_shape(const Shape& x) const override;
  ParameterSet& parameters() override { return params_; }

  void forward(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const override;
  std::unique_ptr<Linearization> linearize(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const override;
  void jvp(Context& ctx, const Linearization& lin, const Tensor& dx, Tensor& dy) const override;
  void vjp(Context& ctx, const Linearization& lin, const Tensor& gy, Tensor& gx, bool param_grads) const override;

  // One TimestepEmbedSequential: its layers in order.
  using Layer = std::variant<Conv, ResBlock, Attention, Resampler>;
  using LayerState = std::variant<Conv::State, ResBlock::State, Attention::State, Resampler::State>;
  struct Block {
    std::vector<Layer> layers;
  };
  struct State;

 private:
  void run(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y, State* state) const;
  Tensor embedding(Context& ctx, const Tensor& x, const Conditioning& c, State* state) const;
  void check_input(const Shape& x) const;

  UNetConfig config_;
  ParameterSet params_;
  Linear time_embed_0_, time_embed_2_;
  Parameter* label_emb_ = nullptr;
  std::vector<Block> input_blocks_;
  Block middle_block_;
  std::vector<Block> output_blocks_;
  NormAct out_norm_;
  Conv out_conv_;
};

}  // namespace tweedie::nn

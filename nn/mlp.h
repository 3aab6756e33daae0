#pragma once
// A small residual MLP denoiser for low-dimensional problems (2-D and 16-D toys, short 1-D signals):
//
//   emb = time_embed(timestep_embedding(t, emb_dim))      time_embed = [Linear, SiLU, Linear]
//   h   = input(x) + emb
//   h   = h + blocks[i](SiLU(h))    for i < depth
//   y   = output(SiLU(h))
//
// x is (N, dim) and y (N, out_dim), out_dim = dim unless set (an inference network outputs two
// hyperparameters per measured entry). Parameter names: time_embed.{0,2}.*, input.*, blocks.{i}.*, output.*.
#include <cstdint>
#include <string>
#include <vector>

#include "nn/linear.h"
#include "nn/network.h"

namespace tweedie::nn {

struct MlpConfig {
  std::int64_t dim = 2, hidden = 128, depth = 3, emb_dim = 32;
  std::int64_t out_dim = 0;  // outputs per item; 0: dim (a denoiser). Absent from configs that leave it 0.
  std::int64_t outputs() const { return out_dim > 0 ? out_dim : dim; }
  static MlpConfig from_json(const std::string& json, const std::string& where);
  std::string to_json() const;
  void validate(const std::string& where) const;
};

class Mlp final : public Network {
 public:
  Mlp(const MlpConfig& config, Device device);

  std::string architecture() const override { return "mlp"; }
  std::string config_json() const override { return config_.to_json(); }
  Shape output_shape(const Shape& x) const override;
  ParameterSet& parameters() override { return params_; }

  void forward(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const override;
  std::unique_ptr<Linearization> linearize(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const override;
  void jvp(Context& ctx, const Linearization& lin, const Tensor& dx, Tensor& dy) const override;
  void vjp(Context& ctx, const Linearization& lin, const Tensor& gy, Tensor& gx, bool param_grads) const override;

  struct State;

 private:
  void run(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y, State* state) const;

  MlpConfig config_;
  ParameterSet params_;
  Linear time_embed_0_, time_embed_2_, input_, output_;
  std::vector<Linear> blocks_;
};

}  // namespace tweedie::nn

#include "samplers/training/trainer.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "kernels/random.h"
#include "nn/unet_config.h"
#include "runtime/check.h"
#include "runtime/error.h"
#include "samplers/operators/operator.h"

namespace tweedie::samplers {
namespace {

// Philox streams of the training draws. Item j of step s is counter (s - 1) B + j of the scalar
// streams; its noise is the row stream kNoiseStreams + (s - 1) B + j, and validation item i at grid
// time k uses kValidationStreams + k N + i (with seed 0, so runs with different seeds share it).
constexpr std::uint64_t kIndexStream = 1, kFlipStream = 2, kTimeStream = 3, kTimeNormalStream = 4;
constexpr std::uint64_t kNoiseStreams = std::uint64_t(1) << 32, kValidationStreams = std::uint64_t(1) << 48;

// The items `index` of the host data, each mirrored along its last axis where `flip` says so.
std::vector<float> gather(const Tensor& data, const std::vector<std::int64_t>& index, const std::vector<bool>& flip) {
  const std::int64_t per = data.numel() / data.dim(0), width = data.shape()[-1];
  const float* src = data.data<float>();
  std::vector<float> out(std::size_t(per) * index.size());
  for (std::size_t j = 0; j < index.size(); ++j) {
    const float* from = src + index[j] * per;
    float* to = out.data() + std::int64_t(j) * per;
    if (!flip[j]) {
      std::copy(from, from + per, to);
      continue;
    }
    for (std::int64_t row = 0; row < per; row += width) std::reverse_copy(from + row, from + row + width, to + row);
  }
  return out;
}

}  // namespace

BatchShare batch_share(std::int64_t batch, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size) throw ArgumentError(cat("process ", rank, " of ", size, ": no such process"));
  const std::int64_t base = batch / size, extra = batch % size;
  return {rank * base + std::min<std::int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

std::int64_t class_count(const nn::Network& network) {
  if (network.architecture() != "adm-unet") return 0;
  return nn::UNetConfig::from_json(network.config_json(), "class_count").num_classes;
}

void TrainOptions::validate() const {
  if (batch < 1) throw ArgumentError(cat("--batch ", batch, ": need at least 1"));
  time.validate();
  adam.validate();
  if (!(ema >= 0 && ema < 1)) throw ArgumentError(cat("--ema ", ema, ": the decay must be in [0, 1)"));
}

void check_training_data(const TrainingData& data, const Shape& item, std::int64_t classes, const std::string& what) {
  const Tensor& x = data.x;
  if (!x.defined() || x.dtype() != DType::f32 || !x.device().is_cpu())
    throw ArgumentError(cat(what, ": training data must be f32 on the host"));
  if (x.rank() < 1 || x.dim(0) == 0 || x.shape() != batched(x.dim(0), item))
    throw ShapeError(cat(what, " is ", x.shape().str(), "; the model takes items ", item.str(), ", so the data must be (N,",
                                item.str().substr(1)));
  expect_finite_items(x, what, "training data must be finite");
  if (classes == 0 && !data.labels.empty()) throw ArgumentError(cat(what, ": labels given, but the model is not class-conditional"));
  if (classes > 0 && data.labels.empty()) throw ArgumentError(cat(what, ": the model is class-conditional (", classes, " classes); give labels"));
  if (!data.labels.empty() && std::int64_t(data.labels.size()) != x.dim(0))
    throw ShapeError(cat(what, ": ", data.labels.size(), " labels for ", x.dim(0), " items"));
  for (std::size_t i = 0; i < data.labels.size(); ++i)
    if (data.labels[i] < 0 || data.labels[i] >= classes)
      throw ArgumentError(cat(what, ": label ", data.labels[i], " of item ", i, " is outside 0..", classes - 1));
}

Trainer::Trainer(std::shared_ptr<NetworkDenoiser> model, TrainingData data, TrainOptions options, std::shared_ptr<ProcessGroup> group)
    : model_(std::move(model)),
      data_(std::move(data)),
      options_((options.validate(), std::move(options))),
      adam_(model_->mutable_network().parameters(), options_.adam),
      ema_(model_->mutable_network().parameters(), options_.ema),
      group_(std::move(group)) {
  if (options_.flip && model_->item_shape().rank() != 3)
    throw ArgumentError(cat("--flip mirrors images (C, H, W); the model's items are ", model_->item_shape().str()));
  if (group_ && group_->size() > options_.batch)
    throw ArgumentError(cat("--batch ", options_.batch, " split over ", group_->size(),
                            " processes: every process needs at least one item of each batch"));
}

BatchShare Trainer::share() const {
  return group_ ? batch_share(options_.batch, group_->rank(), group_->size()) : BatchShare{0, options_.batch};
}

void Trainer::set_data(TrainingData data) {
  check_training_data(data, model_->item_shape(), class_count(model_->network()), "training data");
  data_ = std::move(data);
}

DsmBatch Trainer::batch(Context& ctx, std::int64_t step) const { return batch(ctx, step, {0, options_.batch}); }

DsmBatch Trainer::batch(Context& ctx, std::int64_t step, BatchShare part) const {
  if (step < 1) throw ArgumentError(cat("training batch of step ", step, "; steps count from 1"));
  if (part.first < 0 || part.count < 1 || part.first + part.count > options_.batch)
    throw ArgumentError(cat("items ", part.first, "..", part.first + part.count - 1, " of a batch of ", options_.batch));
  const std::int64_t b = part.count, n = data_.x.dim(0);
  // Counters of the whole batch's item part.first onwards: a part is drawn exactly as in the whole.
  const std::uint64_t seed = options_.seed, first = std::uint64_t(step - 1) * std::uint64_t(options_.batch) + std::uint64_t(part.first);
  DsmBatch out;
  std::vector<std::int64_t> picks(static_cast<std::size_t>(b));
  std::vector<bool> flip(static_cast<std::size_t>(b), false);
  for (std::int64_t j = 0; j < b; ++j) {
    const std::uint64_t c = first + std::uint64_t(j);
    picks[j] = std::min(n - 1, std::int64_t(double(uniform_at(seed, kIndexStream, c)) * double(n)));
    if (options_.flip) flip[j] = uniform_at(seed, kFlipStream, c) < 0.5f;
    out.t.push_back(training_time(model_->process(), options_.time, uniform_at(seed, kTimeStream, c), normal_at(seed, kTimeNormalStream, c)));
    if (!data_.labels.empty()) out.labels.push_back(data_.labels[std::size_t(picks[j])]);
  }
  const Shape shape = batched(b, model_->item_shape());
  std::vector<float> x = gather(data_.x, picks, flip);
  out.x0 = Tensor::from_host(std::span<const float>(x), shape, ctx.device());
  out.noise = Tensor::empty(shape, ctx.device());
  fill_normal(ctx, out.noise, RandomStream{seed, kNoiseStreams + first}, 0.0f, 1.0f, b);
  return out;
}

TrainStep Trainer::step(Context& ctx) {
  TrainStep r;
  r.step = steps_done() + 1;
  nn::ParameterSet& params = model_->mutable_network().parameters();
  params.zero_gradients(ctx);
  DsmBatch items = batch(ctx, r.step, share());
  items.mean_over = options_.batch;  // each process adds its part of the whole batch's mean
  r.loss = dsm_loss(ctx, *model_, items, /*gradients=*/true).loss;
  if (group_) {
    sum_gradients(ctx);
    group_->sum(std::span<double>(&r.loss, 1));
  }
  if (!std::isfinite(r.loss)) throw NumericError(cat("training step ", r.step, ": the loss is ", r.loss, "; the weights are left as after step ", r.step - 1));
  r.optimizer = adam_.step(ctx);
  ema_.update(ctx, params, r.step);
  return r;
}

void Trainer::sum_gradients(Context& ctx) {
  const nn::ParameterSet& params = model_->mutable_network().parameters();
  const std::vector<nn::Parameter*>& all = params.all();
  const std::int64_t total = params.count_values();
  if (!summed_.defined() || summed_.numel() != total || summed_.device() != ctx.device()) summed_ = Tensor::empty({total}, ctx.device());
  // Packed into one tensor, so the group runs one collective per step rather than one per parameter.
  // A parameter this process's items gave no gradient (gradient() makes zeros) still takes part.
  std::int64_t at = 0;
  for (nn::Parameter* p : all) {
    const std::int64_t n = p->value.numel();
    summed_.slice(at, n).copy_from(p->gradient().reshape({n}));
    at += n;
  }
  group_->sum(ctx, summed_);
  at = 0;
  for (nn::Parameter* p : all) {
    const std::int64_t n = p->value.numel();
    Tensor g = p->grad.reshape({n});
    g.copy_from(summed_.slice(at, n));
    at += n;
  }
}

void Trainer::swap_ema() {
  const std::vector<nn::Parameter*>& all = model_->mutable_network().parameters().all();
  for (std::size_t i = 0; i < all.size(); ++i) std::swap(all[i]->value, ema_.values()[i]);
}

Validation Trainer::validate(Context& ctx, const TrainingData& data, int times) {
  check_training_data(data, model_->item_shape(), class_count(model_->network()), "validation data");
  EmaWeights ema(*this);
  Validation v;
  v.t = validation_times(model_->process(), options_.time, times);
  const std::int64_t n = data.x.dim(0), per = data.x.numel() / n;
  for (std::size_t k = 0; k < v.t.size(); ++k) {
    double sum = 0;
    for (std::int64_t first = 0; first < n; first += options_.batch) {
      const std::int64_t m = std::min(options_.batch, n - first);
      DsmBatch b;
      const Shape shape = batched(m, model_->item_shape());
      b.x0 = Tensor::from_host(std::span<const float>(data.x.data<float>() + first * per, std::size_t(m * per)), shape, ctx.device());
      b.noise = Tensor::empty(shape, ctx.device());
      fill_normal(ctx, b.noise, RandomStream{0, kValidationStreams + std::uint64_t(k) * std::uint64_t(n) + std::uint64_t(first)}, 0.0f, 1.0f, m);
      b.t.assign(std::size_t(m), v.t[k]);
      if (!data.labels.empty()) b.labels.assign(data.labels.begin() + first, data.labels.begin() + first + m);
      for (double l : dsm_loss(ctx, *model_, b, false).item_losses) sum += l;
    }
    v.loss.push_back(sum / double(n));
    v.mean += v.loss.back() / double(v.t.size());
  }
  return v;
}

}  // namespace tweedie::samplers

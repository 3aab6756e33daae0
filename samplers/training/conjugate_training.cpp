#include "samplers/training/conjugate_training.h"

#include <algorithm>
#include <cmath>

#include "kernels/conjugate_fit.h"
#include "kernels/random.h"
#include "kernels/rows.h"
#include "runtime/error.h"

namespace tweedie::samplers {
namespace {

// Philox keys of the three draws of a training step (item, time, noise), apart from each other.
constexpr std::uint64_t kItemKey = 0x1b873593ull, kTimeKey = 0xcc9e2d51ull, kNoiseKey = 0x85ebca6bull;

// theta = s g(z) in double, written as f32.
std::vector<float> theta_of(const std::vector<float>& z, const CountLaw& law) {
  std::vector<float> theta(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double v = z[i];
    double g = law.link == CountLink::exp ? std::exp(v) : law.link == CountLink::softplus ? softplus_d(v) : sigmoid_d(v);
    theta[i] = float(law.scale * g);
  }
  return theta;
}

}  // namespace

ConjugateTrainer::ConjugateTrainer(std::shared_ptr<InferenceNetwork> network, Tensor data, std::shared_ptr<const Operator> op,
                                   ConjugateTrainOptions options)
    : network_(std::move(network)), data_(std::move(data)), op_(std::move(op)), options_(std::move(options)),
      adam_(network_->network().parameters(), options_.adam), ema_(network_->network().parameters(), options_.ema) {
  const InferenceSpec& s = network_->spec();
  if (data_.device() != Device::cpu() || data_.dtype() != DType::f32 || data_.rank() < 2 ||
      !(Shape(std::span<const std::int64_t>(data_.shape().dims().data() + 1, std::size_t(data_.rank() - 1))) == s.item))
    throw ShapeError(cat("conjugate training: the data are ", data_.str(), ", expected (N, ", s.item.str().substr(1), " f32 on the host"));
  if (op_->output().shape.numel() != s.outputs || op_->input().shape.numel() != s.item.numel())
    throw ShapeError(cat("conjugate training: the operator maps ", op_->input().str(), " to ", op_->output().str(), ", but the network is for ",
                         s.item.str(), " -> ", s.outputs, " entries"));
  if (options_.batch < 1) throw ArgumentError(cat("conjugate training: batch ", options_.batch, " must be at least 1"));
  options_.adam.validate();
  measured_ = s.outputs;
  if (op_->observed().defined()) {
    measured_ = 0;
    for (float o : op_->observed().to(Device::cpu()).to_vector<float>()) measured_ += o != 0 ? 1 : 0;
  }
  if (measured_ == 0) throw ArgumentError("conjugate training: the operator measures no entry");
}

ConjugateTrainer::Batch ConjugateTrainer::make_batch(Context& ctx, const Tensor& data, const std::vector<std::int64_t>& rows,
                                                     const std::vector<double>& t, std::uint64_t noise_seed,
                                                     std::uint64_t first_stream) const {
  const InferenceSpec& s = network_->spec();
  const std::int64_t n = std::int64_t(rows.size()), per = s.item.numel();
  std::vector<float> x0(static_cast<std::size_t>(n * per));
  const float* src = data.data<float>();
  for (std::int64_t i = 0; i < n; ++i) std::copy_n(src + rows[std::size_t(i)] * per, per, x0.begin() + i * per);
  const Shape shape = batched(n, s.item);
  Tensor x = Tensor::from_host(std::span<const float>(x0), shape, ctx.device());
  Batch b;
  b.t = t;
  Tensor z = op_->make_output(n, ctx.device());
  op_->apply(ctx, x, z);
  b.theta = Tensor::from_host(std::span<const float>(theta_of(z.to(Device::cpu()).to_vector<float>(), s.law)), Shape{n, s.outputs},
                              ctx.device());
  // x_t = alpha x0 + sigma eps, row by row.
  b.xt = Tensor::empty(shape, ctx.device());
  fill_normal(ctx, b.xt, RandomStream{noise_seed, first_stream}, 0.0f, 1.0f, n);
  std::vector<double> alpha(static_cast<std::size_t>(n)), sigma(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    alpha[std::size_t(i)] = network_->process().alpha(t[std::size_t(i)]), sigma[std::size_t(i)] = network_->process().sigma(t[std::size_t(i)]);
  axpby_rows(ctx, alpha, x, sigma, b.xt);
  return b;
}

double ConjugateTrainer::loss(Context& ctx, const Batch& b, bool gradients) {
  const std::int64_t n = b.xt.dim(0), k = network_->spec().outputs;
  Tensor raw = Tensor::empty({n, 2, k}, ctx.device()), grad = Tensor::empty({n, 2, k}, ctx.device());
  auto lin = network_->linearize(ctx, b.xt, b.t, raw);
  std::vector<double> item = conjugate_nll(ctx, raw, b.theta, network_->spec().law.family, op_->observed(), n, grad);
  double total = 0;
  for (double v : item) total += v;
  const double scale = 1.0 / double(n * measured_);
  if (gradients) {
    std::vector<double> factor(static_cast<std::size_t>(n), scale);
    Tensor scaled = Tensor::zeros({n, 2, k}, ctx.device());
    axpy_rows(ctx, factor, grad, scaled);
    Tensor g_xt = Tensor::empty(b.xt.shape(), ctx.device());
    network_->vjp(ctx, *lin, scaled, g_xt, /*param_grads=*/true);
  }
  return total * scale;
}

double ConjugateTrainer::step(Context& ctx) {
  const std::int64_t s = steps_done() + 1, n = data_.dim(0);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(options_.batch));
  std::vector<double> t(static_cast<std::size_t>(options_.batch));
  const double t0 = network_->process().t_min(), t1 = network_->process().t_max();
  for (std::int64_t j = 0; j < options_.batch; ++j) {
    rows[std::size_t(j)] = std::min<std::int64_t>(n - 1, std::int64_t(double(uniform_at(options_.seed ^ kItemKey, std::uint64_t(s), std::uint64_t(j))) * double(n)));
    t[std::size_t(j)] = t0 + (t1 - t0) * double(uniform_at(options_.seed ^ kTimeKey, std::uint64_t(s), std::uint64_t(j)));
  }
  Batch b = make_batch(ctx, data_, rows, t, options_.seed ^ kNoiseKey, std::uint64_t(s) * std::uint64_t(options_.batch));
  nn::ParameterSet& params = network_->network().parameters();
  params.zero_gradients(ctx);
  const double l = loss(ctx, b, true);
  if (!std::isfinite(l)) throw NumericError(cat("conjugate training step ", s, ": the loss is ", l));
  adam_.step(ctx);
  ema_.update(ctx, params, s);
  return l;
}

double ConjugateTrainer::validate(Context& ctx, const Tensor& data, int times) {
  swap_ema();
  struct Restore {
    ConjugateTrainer* self;
    ~Restore() { self->swap_ema(); }
  } restore{this};
  const std::int64_t n = data.dim(0);
  const double t0 = network_->process().t_min(), t1 = network_->process().t_max();
  double sum = 0;
  for (int k = 0; k < times; ++k) {
    const double tk = t0 + (t1 - t0) * (k + 0.5) / times;
    for (std::int64_t first = 0; first < n; first += options_.batch) {
      const std::int64_t m = std::min(options_.batch, n - first);
      std::vector<std::int64_t> rows(static_cast<std::size_t>(m));
      for (std::int64_t i = 0; i < m; ++i) rows[std::size_t(i)] = first + i;
      Batch b = make_batch(ctx, data, rows, std::vector<double>(std::size_t(m), tk), 0, std::uint64_t(k) * std::uint64_t(n) + std::uint64_t(first));
      sum += loss(ctx, b, false) * double(m);
    }
  }
  return sum / double(n * times);
}

void ConjugateTrainer::swap_ema() {
  const std::vector<nn::Parameter*>& all = network_->network().parameters().all();
  for (std::size_t i = 0; i < all.size(); ++i) std::swap(all[i]->value, ema_.values()[i]);
}

}  // namespace tweedie::samplers

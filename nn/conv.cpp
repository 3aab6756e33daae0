#include "nn/conv.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "kernels/axpby.h"
#include "kernels/channel_ops.h"
#include "kernels/gemm.h"
#include "kernels/im2col.h"
#include "runtime/check.h"

namespace tweedie::nn {
namespace {

// Column buffers are made for this many floats at most (16 MB): bands of output rows, or groups of
// whole images when an image's columns are smaller.
constexpr std::int64_t kColumnBudget = 1 << 22;

// The view of x as a 2-D image batch: (N, C, H, W), with H = 1 for 1-D signals.
struct Geometry {
  std::int64_t n;
  ConvGeometry g;
  std::int64_t out_c, out_h, out_w;
  std::int64_t in_plane() const { return g.channels * g.height * g.width; }
  std::int64_t out_plane() const { return out_c * out_h * out_w; }
  std::int64_t k() const { return g.col_rows(); }
  bool pointwise() const { return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0; }
};

// y (=, or += with beta 1) the convolution of the images x (g.n of them) with w (out_c, K), on the host.
void convolve_host(Context& ctx, const Geometry& g, const float* px, const float* pw, float* py, float beta) {
  std::int64_t cols = g.out_h * g.out_w, K = g.k();
  if (g.pointwise()) {  // y_n = W x_n
    gemm(ctx, {.m = g.out_c, .n = cols, .k = K, .a = pw, .lda = K, .b = px, .ldb = cols, .stride_b = g.in_plane(),
               .beta = beta, .c = py, .ldc = cols, .stride_c = g.out_plane(), .batch = g.n});
    return;
  }
  Workspace::Scope scratch(ctx.workspace());
  std::int64_t band_rows = std::clamp<std::int64_t>(kColumnBudget / (K * g.out_w), 1, g.out_h);
  if (band_rows == g.out_h) {  // whole images, as many per group as the budget holds
    std::int64_t group = std::clamp<std::int64_t>(kColumnBudget / (K * cols), 1, g.n);
    float* col = scratch.take<float>(group * K * cols);
    for (std::int64_t n0 = 0; n0 < g.n; n0 += group) {
      std::int64_t count = std::min(group, g.n - n0);
      for (std::int64_t i = 0; i < count; ++i) im2col(ctx, g.g, px + (n0 + i) * g.in_plane(), col + i * K * cols, 0, g.out_h);
      gemm(ctx, {.m = g.out_c, .n = cols, .k = K, .a = pw, .lda = K, .b = col, .ldb = cols, .stride_b = K * cols,
                 .beta = beta, .c = py + n0 * g.out_plane(), .ldc = cols, .stride_c = g.out_plane(), .batch = count});
    }
    return;
  }
  float* col = scratch.take<float>(K * band_rows * g.out_w);  // bands of output rows of one image
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t r0 = 0; r0 < g.out_h; r0 += band_rows) {
      std::int64_t rows = std::min(band_rows, g.out_h - r0), band = rows * g.out_w;
      im2col(ctx, g.g, px + n * g.in_plane(), col, r0, rows);
      gemm(ctx, {.m = g.out_c, .n = band, .k = K, .a = pw, .lda = K, .b = col, .ldb = band, .beta = beta,
                 .c = py + n * g.out_plane() + r0 * g.out_w, .ldc = cols});
    }
}

// gw (out_c, K) += sum over images of gy_n col(x_n)^T.
void weight_gradient_host(Context& ctx, const Geometry& g, const float* px, const float* pg, float* pgw) {
  std::int64_t cols = g.out_h * g.out_w, K = g.k();
  if (g.pointwise()) {  // one product at a time: they all add into gw
    for (std::int64_t n = 0; n < g.n; ++n)
      gemm(ctx, {.trans_b = true, .m = g.out_c, .n = K, .k = cols, .a = pg + n * g.out_plane(), .lda = cols,
                 .b = px + n * g.in_plane(), .ldb = cols, .beta = 1.0f, .c = pgw, .ldc = K});
    return;
  }
  Workspace::Scope scratch(ctx.workspace());
  std::int64_t band_rows = std::clamp<std::int64_t>(kColumnBudget / (K * g.out_w), 1, g.out_h);
  float* col = scratch.take<float>(K * band_rows * g.out_w);
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t r0 = 0; r0 < g.out_h; r0 += band_rows) {
      std::int64_t rows = std::min(band_rows, g.out_h - r0), band = rows * g.out_w;
      im2col(ctx, g.g, px + n * g.in_plane(), col, r0, rows);
      gemm(ctx, {.trans_b = true, .m = g.out_c, .n = K, .k = band, .a = pg + n * g.out_plane() + r0 * g.out_w, .lda = cols,
                 .b = col, .ldb = band, .beta = 1.0f, .c = pgw, .ldc = K});
    }
}

// gx (=, or += when accumulate) W^T * gy: the adjoint of the convolution.
void input_cotangent_host(Context& ctx, const Geometry& g, const float* pw, const float* pg, float* pgx, bool accumulate) {
  std::int64_t cols = g.out_h * g.out_w, K = g.k(), kh = g.g.kernel_h, kw = g.g.kernel_w, kk = kh * kw;
  if (g.pointwise()) {  // gx_n = W^T gy_n
    gemm(ctx, {.trans_a = true, .m = K, .n = cols, .k = g.out_c, .a = pw, .lda = K, .b = pg, .ldb = cols,
               .stride_b = g.out_plane(), .beta = accumulate ? 1.0f : 0.0f, .c = pgx, .ldc = cols,
               .stride_c = g.in_plane(), .batch = g.n});
    return;
  }
  Workspace::Scope scratch(ctx.workspace());
  if (g.g.stride_h == 1 && g.g.stride_w == 1 && g.g.pad_h < kh && g.g.pad_w < kw) {
    // With stride 1 the adjoint is itself a convolution: of gy with the kernel flipped in space and
    // transposed in channels, padded by k - 1 - p. One im2col and one GEMM with the long inner
    // dimension Cout*k*k, like the forward pass; the general route below multiplies with inner
    // dimension Cout and then folds a (Cin*k*k, H*W) result. Whole U-Net VJP, adm-small-64: 163 vs
    // 195 ms on 1 thread, 106 vs 118 ms on 2 (this route vs the general one).
    float* flipped = scratch.take<float>(g.out_c * K);  // (Cin, Cout, kh, kw)
    for (std::int64_t o = 0; o < g.out_c; ++o)
      for (std::int64_t c = 0; c < g.g.channels; ++c)
        for (std::int64_t t = 0; t < kk; ++t) flipped[(c * g.out_c + o) * kk + (kk - 1 - t)] = pw[(o * g.g.channels + c) * kk + t];
    ConvGeometry back{g.out_c, g.out_h, g.out_w, kh, kw, 1, 1, kh - 1 - g.g.pad_h, kw - 1 - g.g.pad_w};
    convolve_host(ctx, {g.n, back, g.g.channels, g.g.height, g.g.width}, pg, flipped, pgx, accumulate ? 1.0f : 0.0f);
    return;
  }
  // Strided: col_band = W^T gy_band, folded back into gx.
  if (!accumulate) std::fill(pgx, pgx + g.n * g.in_plane(), 0.0f);
  std::int64_t band_rows = std::clamp<std::int64_t>(kColumnBudget / (K * g.out_w), 1, g.out_h);
  float* col = scratch.take<float>(K * band_rows * g.out_w);
  for (std::int64_t n = 0; n < g.n; ++n)
    for (std::int64_t r0 = 0; r0 < g.out_h; r0 += band_rows) {
      std::int64_t rows = std::min(band_rows, g.out_h - r0), band = rows * g.out_w;
      gemm(ctx, {.trans_a = true, .m = K, .n = band, .k = g.out_c, .a = pw, .lda = K, .b = pg + n * g.out_plane() + r0 * g.out_w,
                 .ldb = cols, .c = col, .ldc = band});
      col2im_add(ctx, g.g, col, pgx + n * g.in_plane(), r0, rows);
    }
}

struct HostConvChoice {
  explicit HostConvChoice(Context&) {}
  HostConv route = default_host_conv();
};

// 1x1 convolutions are a plain GEMM already; oneDNN only pays for itself when it saves the im2col.
bool via_onednn(Context& ctx, const ConvSpec& s) { return s.kernel > 1 && host_conv(ctx) == HostConv::onednn; }

Geometry geometry(const ConvSpec& s, const Shape& x) {
  bool two = s.dims == 2;
  std::int64_t h = two ? x[2] : 1, w = two ? x[3] : x[2];
  ConvGeometry g{s.in, h, w, two ? s.kernel : 1, s.kernel, two ? s.stride : 1, s.stride, two ? s.padding : 0, s.padding};
  return {x[0], g, s.out, g.out_h(), g.out_w()};
}

}  // namespace

bool onednn_available() { return TWEEDIE_HAS_ONEDNN; }

constexpr const char* kNoOnednn = "this build has no oneDNN (configure with -DTWEEDIE_ONEDNN=ON)";

HostConv default_host_conv() {
  const char* env = std::getenv("TWEEDIE_HOST_CONV");
  if (!env || !*env) return onednn_available() ? HostConv::onednn : HostConv::gemm;
  std::string_view v(env);
  if (v == "gemm") return HostConv::gemm;
  if (v != "onednn") throw ArgumentError(cat("TWEEDIE_HOST_CONV=", v, ": expected gemm or onednn"));
  if (!onednn_available())
    throw ArgumentError(cat("TWEEDIE_HOST_CONV=onednn: ", kNoOnednn));
  return HostConv::onednn;
}

#if !TWEEDIE_HAS_ONEDNN
std::string onednn_info() { return "not built (configure with -DTWEEDIE_ONEDNN=ON and libdnnl-dev)"; }
#endif
HostConv host_conv(Context& ctx) { return ctx.state<HostConvChoice>().route; }
const char* host_conv_name(HostConv route) { return route == HostConv::onednn ? "onednn" : "gemm"; }
void set_host_conv(Context& ctx, HostConv route) {
  if (route == HostConv::onednn && !onednn_available())
    throw ArgumentError(cat("host convolutions through oneDNN: ", kNoOnednn));
  ctx.state<HostConvChoice>().route = route;
}

Conv::Conv(ParameterSet& params, const std::string& prefix, const ConvSpec& spec) : name_(prefix), spec_(spec) {
  if (spec.dims != 1 && spec.dims != 2) throw ArgumentError(cat(prefix, ": convolutions are 1-D or 2-D, got dims ", spec.dims));
  if (spec.in < 1 || spec.out < 1 || spec.kernel < 1 || spec.stride < 1 || spec.padding < 0)
    throw ArgumentError(cat(prefix, ": bad convolution in=", spec.in, " out=", spec.out, " kernel=", spec.kernel,
                            " stride=", spec.stride, " padding=", spec.padding));
  Shape w = spec.dims == 2 ? Shape{spec.out, spec.in, spec.kernel, spec.kernel} : Shape{spec.out, spec.in, spec.kernel};
  weight_ = params.add(prefix + ".weight", w);
  if (spec.bias) bias_ = params.add(prefix + ".bias", {spec.out});
}

Shape Conv::output_shape(const Shape& x) const {
  int rank = spec_.dims + 2;
  if (x.rank() != rank || x[1] != spec_.in)
    throw ShapeError(cat(name_, ": input ", x.str(), " does not fit a ", spec_.dims, "-D convolution of ", spec_.in,
                         " input channels"));
  Geometry g = geometry(spec_, x);
  if (g.out_h < 1 || g.out_w < 1) throw ShapeError(cat(name_, ": input ", x.str(), " is smaller than the kernel"));
  return spec_.dims == 2 ? Shape{g.n, g.out_c, g.out_h, g.out_w} : Shape{g.n, g.out_c, g.out_w};
}

void Conv::apply(Context& ctx, const Tensor& x, Tensor& y, bool with_bias) const {
  expect_tensor(ctx, name_.c_str(), "x", x);
  expect_tensor(ctx, name_.c_str(), "y", y);
  expect_shape(name_.c_str(), "y", y, output_shape(x.shape()));
  if (ctx.on_cuda()) {
#if TWEEDIE_HAS_CUDA
    detail::conv_forward_cudnn(ctx, spec_, x, weight_->value, y);
#endif
  } else if (via_onednn(ctx, spec_)) {
#if TWEEDIE_HAS_ONEDNN
    detail::conv_forward_onednn(ctx, spec_, x, weight_->value, y);
#endif
  } else {
    convolve_host(ctx, geometry(spec_, x.shape()), x.data<float>(), weight_->value.data<float>(), y.data<float>(), 0.0f);
  }
  if (with_bias && bias_) add_channel_vector(ctx, y, bias_->value);
}

void Conv::forward(Context& ctx, const Tensor& x, Tensor& y) const { apply(ctx, x, y, true); }

void Conv::linearize(Context& ctx, const Tensor& x, Tensor& y, State& state) const {
  apply(ctx, x, y, true);
  state.x = x;
}

void Conv::jvp(Context& ctx, const Tensor& dx, Tensor& dy) const { apply(ctx, dx, dy, false); }

void Conv::vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, bool param_grads) const {
  const Tensor& x = state.x;
  expect_tensor(ctx, name_.c_str(), "gy", gy);
  expect_tensor(ctx, name_.c_str(), "gx", gx);
  expect_shape(name_.c_str(), "gy", gy, output_shape(x.shape()));
  expect_shape(name_.c_str(), "gx", gx, x.shape());
  if (ctx.on_cuda()) {
#if TWEEDIE_HAS_CUDA
    detail::conv_backward_data_cudnn(ctx, spec_, gy, weight_->value, gx, accumulate);
    if (param_grads) detail::conv_backward_filter_cudnn(ctx, spec_, x, gy, weight_->gradient());
#endif
  } else if (via_onednn(ctx, spec_)) {
#if TWEEDIE_HAS_ONEDNN
    if (param_grads) detail::conv_backward_weights_onednn(ctx, spec_, x, gy, weight_->gradient());
    detail::conv_backward_data_onednn(ctx, spec_, gy, weight_->value, gx, accumulate);
#endif
  } else {
    Geometry g = geometry(spec_, x.shape());
    const float* px = x.data<float>();
    const float* pw = weight_->value.data<float>();
    const float* pg = gy.data<float>();
    if (param_grads) weight_gradient_host(ctx, g, px, pg, weight_->gradient().data<float>());
    input_cotangent_host(ctx, g, pw, pg, gx.data<float>(), accumulate);
  }
  if (param_grads && bias_) accumulate_channel_sums(ctx, gy, bias_->gradient());
}

}  // namespace tweedie::nn

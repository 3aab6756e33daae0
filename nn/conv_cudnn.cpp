// Convolutions on the GPU through cuDNN's convolution API: one plan (descriptors, algorithms,
// workspace sizes) per (layer shape, input shape) and context, f32 with FMA math only (no TF32), and
// deterministic algorithms for the backward passes so that gradients repeat bit for bit.
#include <cudnn.h>

#include <map>
#include <tuple>

#include "nn/conv.h"
#include "runtime/cuda_backend.h"
#include "runtime/cuda_check.h"

namespace tweedie::nn::detail {
namespace {

struct CudnnHandle {
  cudnnHandle_t handle = nullptr;
  explicit CudnnHandle(Context& ctx) {
    cuda::activate(ctx.device().index());
    TW_CHECK(cudnnCreate(&handle));
    TW_CHECK(cudnnSetStream(handle, static_cast<cudaStream_t>(ctx.stream())));
  }
  ~CudnnHandle() { cudnnDestroy(handle); }
};

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  std::size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;
};

// (in, out, kernel, stride, padding, dims, n, h, w)
using PlanKey = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, int, std::int64_t, std::int64_t, std::int64_t>;

struct ConvPlans {
  explicit ConvPlans(Context&) {}
  ~ConvPlans() {
    for (auto& [key, p] : plans) {
      cudnnDestroyTensorDescriptor(p.x);
      cudnnDestroyTensorDescriptor(p.y);
      cudnnDestroyFilterDescriptor(p.w);
      cudnnDestroyConvolutionDescriptor(p.conv);
    }
  }
  std::map<PlanKey, Plan> plans;
};

// The first algorithm cuDNN's heuristics rank that ran, and is deterministic when asked for.
template <class Perf>
auto pick(const Perf* results, int count, bool deterministic, const char* what) {
  for (int i = 0; i < count; ++i)
    if (results[i].status == CUDNN_STATUS_SUCCESS && (!deterministic || results[i].determinism == CUDNN_DETERMINISTIC))
      return results[i].algo;
  throw BackendError(cat("cuDNN offers no usable ", what, " algorithm for this convolution"));
}

Plan& plan_for(Context& ctx, const ConvSpec& s, const Shape& x_shape) {
  bool two = s.dims == 2;
  std::int64_t n = x_shape[0], h = two ? x_shape[2] : 1, w = two ? x_shape[3] : x_shape[2];
  PlanKey key{s.in, s.out, s.kernel, s.stride, s.padding, s.dims, n, h, w};
  ConvPlans& cache = ctx.state<ConvPlans>();
  auto found = cache.plans.find(key);
  if (found != cache.plans.end()) return found->second;

  cudnnHandle_t handle = ctx.state<CudnnHandle>().handle;
  Plan p;
  int kh = two ? int(s.kernel) : 1, sh = two ? int(s.stride) : 1, ph = two ? int(s.padding) : 0;
  TW_CHECK(cudnnCreateTensorDescriptor(&p.x));
  TW_CHECK(cudnnCreateTensorDescriptor(&p.y));
  TW_CHECK(cudnnCreateFilterDescriptor(&p.w));
  TW_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  TW_CHECK(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n), int(s.in), int(h), int(w)));
  TW_CHECK(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(s.out), int(s.in), kh, int(s.kernel)));
  TW_CHECK(cudnnSetConvolution2dDescriptor(p.conv, ph, int(s.padding), sh, int(s.stride), 1, 1, CUDNN_CROSS_CORRELATION,
                                           CUDNN_DATA_FLOAT));
  TW_CHECK(cudnnSetConvolutionMathType(p.conv, CUDNN_FMA_MATH));
  int on, oc, oh, ow;
  TW_CHECK(cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &on, &oc, &oh, &ow));
  TW_CHECK(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, on, oc, oh, ow));

  constexpr int kMax = 16;
  int count = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
  TW_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x, p.w, p.conv, p.y, kMax, &count, fwd));
  p.fwd = pick(fwd, count, false, "forward");
  cudnnConvolutionBwdDataAlgoPerf_t bd[kMax];
  TW_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p.w, p.y, p.conv, p.x, kMax, &count, bd));
  p.bwd_data = pick(bd, count, true, "backward-data");
  cudnnConvolutionBwdFilterAlgoPerf_t bf[kMax];
  TW_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, p.x, p.y, p.conv, p.w, kMax, &count, bf));
  p.bwd_filter = pick(bf, count, true, "backward-filter");
  TW_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, p.x, p.w, p.conv, p.y, p.fwd, &p.fwd_bytes));
  TW_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p.w, p.y, p.conv, p.x, p.bwd_data, &p.bwd_data_bytes));
  TW_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p.x, p.y, p.conv, p.w, p.bwd_filter, &p.bwd_filter_bytes));
  return cache.plans.emplace(key, p).first->second;
}

}  // namespace

void conv_forward_cudnn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& w, Tensor& y) {
  Plan& p = plan_for(ctx, s, x.shape());
  cudnnHandle_t handle = ctx.state<CudnnHandle>().handle;
  cuda::activate(ctx.device().index());
  Workspace::Scope scratch(ctx.workspace());
  void* work = scratch.take_bytes(p.fwd_bytes);
  float one = 1.0f, zero = 0.0f;
  TW_CHECK(cudnnConvolutionForward(handle, &one, p.x, x.data<float>(), p.w, w.data<float>(), p.conv, p.fwd, work,
                                   p.fwd_bytes, &zero, p.y, y.data<float>()));
}

void conv_backward_data_cudnn(Context& ctx, const ConvSpec& s, const Tensor& gy, const Tensor& w, Tensor& gx, bool accumulate) {
  Plan& p = plan_for(ctx, s, gx.shape());
  cudnnHandle_t handle = ctx.state<CudnnHandle>().handle;
  cuda::activate(ctx.device().index());
  Workspace::Scope scratch(ctx.workspace());
  void* work = scratch.take_bytes(p.bwd_data_bytes);
  float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  TW_CHECK(cudnnConvolutionBackwardData(handle, &one, p.w, w.data<float>(), p.y, gy.data<float>(), p.conv, p.bwd_data,
                                        work, p.bwd_data_bytes, &beta, p.x, gx.data<float>()));
}

void conv_backward_filter_cudnn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& gy, Tensor& gw) {
  Plan& p = plan_for(ctx, s, x.shape());
  cudnnHandle_t handle = ctx.state<CudnnHandle>().handle;
  cuda::activate(ctx.device().index());
  Workspace::Scope scratch(ctx.workspace());
  void* work = scratch.take_bytes(p.bwd_filter_bytes);
  float one = 1.0f;
  TW_CHECK(cudnnConvolutionBackwardFilter(handle, &one, p.x, x.data<float>(), p.y, gy.data<float>(), p.conv,
                                          p.bwd_filter, work, p.bwd_filter_bytes, &one, p.w, gw.data<float>()));
}

}  // namespace tweedie::nn::detail

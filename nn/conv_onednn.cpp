// Convolutions on the host through oneDNN (Debian's libdnnl), the CPU counterpart of nn/conv_cudnn.cpp.
//
// oneDNN's direct convolutions want activations and weights in blocked layouts (channels in blocks of
// 8 or 16, chosen for the machine's vector width); tweedie keeps NCHW. Each call reorders its inputs
// into the layouts the primitive asked for, runs it, and reorders the result back, with `sum` on the
// final reorder when the caller accumulates. The reorders are memory-bound passes; the direct kernels
// they enable beat im2col + GEMM by 2-3x on 3x3 layers (measured in the commit adding this file).
//
// One plan (the three primitive descriptors and primitives) per layer shape, input shape and thread
// count, kept per Context. oneDNN's own scratch memory comes from the context's workspace, so a
// sampling loop allocates nothing after its first step. oneDNN runs on OpenMP like the rest of the
// host code; it takes its thread count from the calling thread's OpenMP setting, which we set to the
// context's for the duration of a call and then restore.
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <map>
#include <tuple>

#include "nn/conv.h"
#include "runtime/error.h"

namespace tweedie::nn::detail {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;

// (in, out, kernel, stride, padding, dims, n, h, w, threads)
using PlanKey = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, int, std::int64_t,
                           std::int64_t, std::int64_t, int>;

struct Plan {
  memory::desc x_user, w_user, y_user;  // NCHW, OIHW, NCHW
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc data_pd;
  dnnl::convolution_backward_weights::primitive_desc weights_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data data;
  dnnl::convolution_backward_weights weights;
};

struct OnednnState {
  explicit OnednnState(Context&) : engine(dnnl::engine::kind::cpu, 0), stream(engine) {}
  dnnl::engine engine;
  dnnl::stream stream;
  std::map<PlanKey, Plan> plans;
};

// Sets the calling thread's OpenMP thread count for the lifetime of the guard.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : saved_(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ThreadCount() { omp_set_num_threads(saved_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int saved_;
};

// oneDNN's errors as tweedie's, naming the layer shape.
template <class F>
decltype(auto) guarded(const ConvSpec& s, const char* what, F&& f) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    throw BackendError(cat("oneDNN ", what, " of a ", s.dims, "-D convolution (", s.in, " -> ", s.out, " channels, kernel ",
                           s.kernel, ", stride ", s.stride, ", padding ", s.padding, "): ", e.what()));
  }
}

Plan& plan_for(Context& ctx, const ConvSpec& s, const Shape& x_shape) {
  bool two = s.dims == 2;
  std::int64_t n = x_shape[0], h = two ? x_shape[2] : 1, w = two ? x_shape[3] : x_shape[2];
  PlanKey key{s.in, s.out, s.kernel, s.stride, s.padding, s.dims, n, h, w, ctx.threads()};
  OnednnState& state = ctx.state<OnednnState>();
  auto found = state.plans.find(key);
  if (found != state.plans.end()) return found->second;

  return guarded(s, "setup", [&]() -> Plan& {
    // A 1-D convolution is the 2-D one of an image one row high.
    std::int64_t kh = two ? s.kernel : 1, sh = two ? s.stride : 1, ph = two ? s.padding : 0;
    std::int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * s.padding - s.kernel) / s.stride + 1;
    memory::dims xd{n, s.in, h, w}, wd{s.out, s.in, kh, s.kernel}, yd{n, s.out, oh, ow};
    memory::dims strides{sh, s.stride}, pad{ph, s.padding};
    memory::desc x_any(xd, kF32, Tag::any), w_any(wd, kF32, Tag::any), y_any(yd, kF32, Tag::any);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    auto algo = dnnl::algorithm::convolution_direct;

    Plan p;
    p.x_user = memory::desc(xd, kF32, Tag::nchw);
    p.w_user = memory::desc(wd, kF32, Tag::oihw);
    p.y_user = memory::desc(yd, kF32, Tag::nchw);
    p.fwd_pd = dnnl::convolution_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, algo, x_any, w_any, y_any, strides, pad, pad}, attr, state.engine);
    p.data_pd = dnnl::convolution_backward_data::primitive_desc({algo, x_any, w_any, y_any, strides, pad, pad}, attr,
                                                                state.engine, p.fwd_pd);
    p.weights_pd = dnnl::convolution_backward_weights::primitive_desc({algo, x_any, w_any, y_any, strides, pad, pad},
                                                                      attr, state.engine, p.fwd_pd);
    p.fwd = dnnl::convolution_forward(p.fwd_pd);
    p.data = dnnl::convolution_backward_data(p.data_pd);
    p.weights = dnnl::convolution_backward_weights(p.weights_pd);
    return state.plans.emplace(key, std::move(p)).first->second;
  });
}

// The argument `user` in the layout `want`: itself when the layouts agree, else a reordered copy in
// scratch memory.
memory as_layout(OnednnState& st, Workspace::Scope& scratch, memory user, const memory::desc& want) {
  if (user.get_desc() == want) return user;
  memory copy(want, st.engine, scratch.take_bytes(want.get_size()));
  dnnl::reorder(user, copy).execute(st.stream, user, copy);
  return copy;
}

// dst (+= when accumulate, else =) src, changing layout on the way.
void write_back(OnednnState& st, memory src, memory dst, bool accumulate) {
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops sum;
    sum.append_sum(1.0f);
    attr.set_post_ops(sum);
  }
  dnnl::reorder(dnnl::reorder::primitive_desc(src, dst, attr)).execute(st.stream, src, dst);
}

memory scratchpad(OnednnState& st, Workspace::Scope& scratch, const memory::desc& d) {
  return memory(d, st.engine, d.get_size() ? scratch.take_bytes(d.get_size()) : nullptr);
}

}  // namespace

void conv_forward_onednn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& w, Tensor& y) {
  ThreadCount threads(ctx.threads());
  Plan& p = plan_for(ctx, s, x.shape());
  OnednnState& st = ctx.state<OnednnState>();
  guarded(s, "forward", [&] {
    Workspace::Scope scratch(ctx.workspace());
    memory xu(p.x_user, st.engine, const_cast<float*>(x.data<float>()));
    memory wu(p.w_user, st.engine, const_cast<float*>(w.data<float>()));
    memory yu(p.y_user, st.engine, y.data<float>());
    memory xs = as_layout(st, scratch, xu, p.fwd_pd.src_desc()), ws = as_layout(st, scratch, wu, p.fwd_pd.weights_desc());
    bool direct = p.fwd_pd.dst_desc() == p.y_user;
    memory ys = direct ? yu : memory(p.fwd_pd.dst_desc(), st.engine, scratch.take_bytes(p.fwd_pd.dst_desc().get_size()));
    p.fwd.execute(st.stream, {{DNNL_ARG_SRC, xs}, {DNNL_ARG_WEIGHTS, ws}, {DNNL_ARG_DST, ys},
                              {DNNL_ARG_SCRATCHPAD, scratchpad(st, scratch, p.fwd_pd.scratchpad_desc())}});
    if (!direct) write_back(st, ys, yu, false);
    st.stream.wait();
  });
}

void conv_backward_data_onednn(Context& ctx, const ConvSpec& s, const Tensor& gy, const Tensor& w, Tensor& gx,
                               bool accumulate) {
  ThreadCount threads(ctx.threads());
  Plan& p = plan_for(ctx, s, gx.shape());
  OnednnState& st = ctx.state<OnednnState>();
  guarded(s, "backward-data", [&] {
    Workspace::Scope scratch(ctx.workspace());
    memory gyu(p.y_user, st.engine, const_cast<float*>(gy.data<float>()));
    memory wu(p.w_user, st.engine, const_cast<float*>(w.data<float>()));
    memory gxu(p.x_user, st.engine, gx.data<float>());
    memory gys = as_layout(st, scratch, gyu, p.data_pd.diff_dst_desc()), ws = as_layout(st, scratch, wu, p.data_pd.weights_desc());
    bool direct = !accumulate && p.data_pd.diff_src_desc() == p.x_user;
    memory gxs = direct ? gxu : memory(p.data_pd.diff_src_desc(), st.engine, scratch.take_bytes(p.data_pd.diff_src_desc().get_size()));
    p.data.execute(st.stream, {{DNNL_ARG_DIFF_DST, gys}, {DNNL_ARG_WEIGHTS, ws}, {DNNL_ARG_DIFF_SRC, gxs},
                               {DNNL_ARG_SCRATCHPAD, scratchpad(st, scratch, p.data_pd.scratchpad_desc())}});
    if (!direct) write_back(st, gxs, gxu, accumulate);
    st.stream.wait();
  });
}

void conv_backward_weights_onednn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& gy, Tensor& gw) {
  ThreadCount threads(ctx.threads());
  Plan& p = plan_for(ctx, s, x.shape());
  OnednnState& st = ctx.state<OnednnState>();
  guarded(s, "backward-weights", [&] {
    Workspace::Scope scratch(ctx.workspace());
    memory xu(p.x_user, st.engine, const_cast<float*>(x.data<float>()));
    memory gyu(p.y_user, st.engine, const_cast<float*>(gy.data<float>()));
    memory gwu(p.w_user, st.engine, gw.data<float>());
    memory xs = as_layout(st, scratch, xu, p.weights_pd.src_desc()), gys = as_layout(st, scratch, gyu, p.weights_pd.diff_dst_desc());
    memory gws(p.weights_pd.diff_weights_desc(), st.engine, scratch.take_bytes(p.weights_pd.diff_weights_desc().get_size()));
    p.weights.execute(st.stream, {{DNNL_ARG_SRC, xs}, {DNNL_ARG_DIFF_DST, gys}, {DNNL_ARG_DIFF_WEIGHTS, gws},
                                  {DNNL_ARG_SCRATCHPAD, scratchpad(st, scratch, p.weights_pd.scratchpad_desc())}});
    write_back(st, gws, gwu, true);  // the gradient accumulates
    st.stream.wait();
  });
}

}  // namespace tweedie::nn::detail

namespace tweedie::nn {

std::string onednn_info() {
  const dnnl_version_t* v = dnnl::version();
  const char* isa = "";
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: isa = "sse4.1"; break;
    case dnnl::cpu_isa::avx: isa = "avx"; break;
    case dnnl::cpu_isa::avx2: isa = "avx2"; break;
    case dnnl::cpu_isa::avx512_core: isa = "avx512_core"; break;
    case dnnl::cpu_isa::avx512_core_vnni: isa = "avx512_core_vnni"; break;
    case dnnl::cpu_isa::avx512_core_bf16: isa = "avx512_core_bf16"; break;
    case dnnl::cpu_isa::avx512_core_amx: isa = "avx512_core_amx"; break;
    default: isa = "other"; break;
  }
  return cat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " (", isa, ")");
}

}  // namespace tweedie::nn

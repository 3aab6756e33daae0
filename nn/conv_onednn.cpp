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
#include <unordered_map>

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

// One call of a primitive: the context's thread count for oneDNN (set before the plan is made, since
// oneDNN sizes its kernels by it), the plan, and scratch memory from the context's workspace.
class Call {
 public:
  Call(Context& ctx, const ConvSpec& s, const Shape& x_shape)
      : threads_(ctx.threads()), plan_(plan_for(ctx, s, x_shape)), st_(ctx.state<OnednnState>()), scratch_(ctx.workspace()) {}

  // A tensor's data seen in its NCHW / OIHW layout `d`.
  memory user(const memory::desc& d, const float* data) { return memory(d, st_.engine, const_cast<float*>(data)); }
  // Fresh scratch memory in layout `d`.
  memory scratch(const memory::desc& d) { return memory(d, st_.engine, d.get_size() ? scratch_.take_bytes(d.get_size()) : nullptr); }
  // `m` in the layout `want`: itself when the layouts agree, else a reordered copy in scratch memory.
  memory in_layout(memory m, const memory::desc& want) {
    if (m.get_desc() == want) return m;
    memory copy = scratch(want);
    dnnl::reorder(m, copy).execute(st_.stream, m, copy);
    return copy;
  }
  // Runs `primitive` on `args` with its scratchpad (of layout `pad`) from the workspace.
  void run(const dnnl::primitive& primitive, const memory::desc& pad, std::unordered_map<int, memory> args) {
    args.emplace(DNNL_ARG_SCRATCHPAD, scratch(pad));
    primitive.execute(st_.stream, args);
  }
  // dst (+= when accumulate, else =) src, changing layout on the way.
  void write_back(memory src, memory dst, bool accumulate) {
    dnnl::primitive_attr attr;
    if (accumulate) {
      dnnl::post_ops sum;
      sum.append_sum(1.0f);
      attr.set_post_ops(sum);
    }
    dnnl::reorder(dnnl::reorder::primitive_desc(src, dst, attr)).execute(st_.stream, src, dst);
  }
  void wait() { st_.stream.wait(); }  // for all the call queued

  const Plan& plan() const { return plan_; }

 private:
  ThreadCount threads_;  // first: the plan is made under it
  const Plan& plan_;
  OnednnState& st_;
  Workspace::Scope scratch_;
};

}  // namespace

void conv_forward_onednn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& w, Tensor& y) {
  guarded(s, "forward", [&] {
    Call c(ctx, s, x.shape());
    const auto& pd = c.plan().fwd_pd;
    memory yu = c.user(c.plan().y_user, y.data<float>());
    memory ys = pd.dst_desc() == c.plan().y_user ? yu : c.scratch(pd.dst_desc());
    c.run(c.plan().fwd, pd.scratchpad_desc(),
          {{DNNL_ARG_SRC, c.in_layout(c.user(c.plan().x_user, x.data<float>()), pd.src_desc())},
           {DNNL_ARG_WEIGHTS, c.in_layout(c.user(c.plan().w_user, w.data<float>()), pd.weights_desc())},
           {DNNL_ARG_DST, ys}});
    if (ys != yu) c.write_back(ys, yu, false);
    c.wait();
  });
}

void conv_backward_data_onednn(Context& ctx, const ConvSpec& s, const Tensor& gy, const Tensor& w, Tensor& gx,
                               bool accumulate) {
  guarded(s, "backward-data", [&] {
    Call c(ctx, s, gx.shape());
    const auto& pd = c.plan().data_pd;
    memory gxu = c.user(c.plan().x_user, gx.data<float>());
    memory gxs = !accumulate && pd.diff_src_desc() == c.plan().x_user ? gxu : c.scratch(pd.diff_src_desc());
    c.run(c.plan().data, pd.scratchpad_desc(),
          {{DNNL_ARG_DIFF_DST, c.in_layout(c.user(c.plan().y_user, gy.data<float>()), pd.diff_dst_desc())},
           {DNNL_ARG_WEIGHTS, c.in_layout(c.user(c.plan().w_user, w.data<float>()), pd.weights_desc())},
           {DNNL_ARG_DIFF_SRC, gxs}});
    if (gxs != gxu) c.write_back(gxs, gxu, accumulate);
    c.wait();
  });
}

void conv_backward_weights_onednn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& gy, Tensor& gw) {
  guarded(s, "backward-weights", [&] {
    Call c(ctx, s, x.shape());
    const auto& pd = c.plan().weights_pd;
    memory gws = c.scratch(pd.diff_weights_desc());
    c.run(c.plan().weights, pd.scratchpad_desc(),
          {{DNNL_ARG_SRC, c.in_layout(c.user(c.plan().x_user, x.data<float>()), pd.src_desc())},
           {DNNL_ARG_DIFF_DST, c.in_layout(c.user(c.plan().y_user, gy.data<float>()), pd.diff_dst_desc())},
           {DNNL_ARG_DIFF_WEIGHTS, gws}});
    c.write_back(gws, c.user(c.plan().w_user, gw.data<float>()), true);  // the gradient accumulates
    c.wait();
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

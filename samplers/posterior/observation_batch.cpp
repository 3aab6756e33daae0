#include "samplers/posterior/observation_batch.h"

#include "kernels/axpby.h"
#include "kernels/broadcast.h"
#include "runtime/error.h"
#include "runtime/memory.h"

namespace tweedie::samplers {

Tensor observation_batch(Context& ctx, const Operator& op, const Tensor& y, std::int64_t n, const char* who) {
  if (y.device() != ctx.device())
    throw DeviceError(cat(who, ": y is on ", y.device().str(), " but the context runs on ", ctx.device().str()));
  if (y.dim(0) == n) return y;
  if (y.dim(0) != 1)
    throw ShapeError(cat(who, ": y holds ", y.dim(0), " observations but the batch has ", n, " items (expected ", n, " or 1)"));
  // Complex observations repeat as their f32 pairs.
  Tensor flat = y.dtype() == DType::c64 ? y.view_as_real() : y;
  Tensor one = flat.reshape({flat.numel()});
  Tensor rep = Tensor::empty({n, one.numel()}, ctx.device());
  fill(ctx, rep, 1.0f);
  multiply_repeated(ctx, rep, one, rep);
  Tensor out = op.make_output(n, ctx.device());
  copy_bytes(out.raw_data(), ctx.device(), rep.raw_data(), ctx.device(), out.nbytes());
  return out;
}

}  // namespace tweedie::samplers

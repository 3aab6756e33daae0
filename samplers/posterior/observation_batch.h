#pragma once
// Posterior denoisers are built for a set of observations y (M, output...) and then asked to denoise
// sampler batches of N items: either one observation per item (M = N) or one observation shared by
// every item (M = 1). This gives the (N, output...) batch of y a step conditions on.
#include <cstdint>

#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/operators/operator.h"

namespace tweedie::samplers {

// y itself when it has n items; the one observation repeated n times when it has 1; otherwise a
// ShapeError (and a DeviceError for y on another device than ctx), each starting with `who`.
Tensor observation_batch(Context& ctx, const Operator& op, const Tensor& y, std::int64_t n, const char* who);

}  // namespace tweedie::samplers

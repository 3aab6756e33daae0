#include "samplers/finite.h"

#include <cmath>

#include "kernels/reduce.h"
#include "runtime/error.h"

namespace tweedie::samplers {

void require_finite(Context& ctx, const Tensor& batch, const std::string& stage) {
  if (!batch.defined() || batch.numel() == 0) return;
  const bool complex = batch.dtype() == DType::c64;
  const Tensor real = complex ? batch.view_as_real() : batch;
  if (std::isfinite(sum(ctx, real))) return;
  Tensor host = real.to_host();
  const float* v = host.data<float>();
  const Shape item = batch.rank() > 0 ? Shape(batch.shape().dims().subspan(1)) : Shape{};
  const std::int64_t per = item.numel();
  for (std::int64_t i = 0, n = host.numel(); i < n; ++i) {
    if (std::isfinite(v[i])) continue;
    const std::int64_t entry = complex ? i / 2 : i;
    throw NumericError(cat(stage, " gave ", shortest_text(v[i]), " for item ", entry / per, " at ",
                           item.index_str(entry % per), " of its ", item.str(), " values"));
  }
}

}  // namespace tweedie::samplers

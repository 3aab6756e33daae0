#include "cli/observation_rows.h"

#include <span>
#include <vector>

namespace tweedie::cli {

Tensor observations_for(const Tensor& y, std::int64_t first, std::int64_t n, std::int64_t per) {
  std::vector<std::int64_t> dims(y.shape().dims().begin(), y.shape().dims().end());
  dims[0] = n;
  Tensor out = Tensor::empty(Shape(std::span<const std::int64_t>(dims)), y.device(), y.dtype());
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor dst = out.slice(i, 1);
    dst.copy_from(y.slice((first + i) / per, 1));
  }
  return out;
}

}  // namespace tweedie::cli

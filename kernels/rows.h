#pragma once
// Level-1 updates with one coefficient per row: a tensor seen as `rows` equal rows (the items of a
// batch), y[r] = a[r] x[r] + b[r] y[r]. Batched solvers (samplers/linalg/krylov.h) keep a step length
// per item on the host; these apply them to all items in one pass.
#include <cstdint>
#include <vector>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// y[r] = a[r] * x[r] + b[r] * y[r] for r < rows = a.size() (= b.size(), which must divide numel).
// x and y are f32, or both c64 (each complex value as its two parts, both scaled alike); same shape.
// Where b[r] == 0 the old contents of row r of y are ignored (NaNs in them do not leak through).
// y may be x.
void axpby_rows(Context& ctx, const std::vector<double>& a, const Tensor& x, const std::vector<double>& b, Tensor& y);
// y[r] += a[r] * x[r].
void axpy_rows(Context& ctx, const std::vector<double>& a, const Tensor& x, Tensor& y);

struct AxpbyRows {
  const float* a;  // (rows)
  const float* b;  // (rows)
  const float* x;
  float* y;
  std::int64_t cols;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * cols + c;
    float br = b[r];
    y[i] = br == 0.0f ? a[r] * x[i] : a[r] * x[i] + br * y[i];
  }
};

}  // namespace tweedie

#pragma once
// Reductions over f32 tensors, accumulated in double.
//
// Whole-tensor and per-row results are returned to the host as doubles (a CUDA context waits for
// them): they steer algorithms, such as the step sizes of conjugate gradient. Per-group moments stay on
// the device as f32 tensors, for the normalisation layers that consume them.
#include <cstdint>
#include <vector>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

double sum(Context& ctx, const Tensor& x);
double dot(Context& ctx, const Tensor& x, const Tensor& y);
double norm2(Context& ctx, const Tensor& x);  // sqrt(sum of squares)

// x seen as `rows` equal rows (rows must divide numel): one value per row.
std::vector<double> sum_rows(Context& ctx, const Tensor& x, std::int64_t rows);
std::vector<double> dot_rows(Context& ctx, const Tensor& x, const Tensor& y, std::int64_t rows);
std::vector<double> norm2_rows(Context& ctx, const Tensor& x, std::int64_t rows);

// Mean and population variance (divided by the count) of each of `groups` contiguous groups of x.
// mean and var are f32 tensors of shape (groups). For GroupNorm on (N, C, H, W) with G groups, the
// groups are contiguous and groups = N * G.
void group_moments(Context& ctx, const Tensor& x, std::int64_t groups, Tensor& mean, Tensor& var);

// ---- the reducers (see runtime/parallel_reduce.h) --------------------------------------------------

struct SumReducer {
  using Value = double;
  const float* x;
  TW_HD Value identity() const { return 0.0; }
  TW_HD Value element(std::int64_t i) const { return x[i]; }
  TW_HD static Value combine(const Value& a, const Value& b) { return a + b; }
  // Local pointers and a count from zero: with `x[i]` through `this`, GCC emits gathers, not loads.
  Value chunk(std::int64_t begin, std::int64_t end) const {
    const float* p = x + begin;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = 0; i < end - begin; ++i) s += p[i];
    return s;
  }
};

struct DotReducer {
  using Value = double;
  const float* x;
  const float* y;
  TW_HD Value identity() const { return 0.0; }
  TW_HD Value element(std::int64_t i) const { return double(x[i]) * double(y[i]); }
  TW_HD static Value combine(const Value& a, const Value& b) { return a + b; }
  Value chunk(std::int64_t begin, std::int64_t end) const {
    const float* p = x + begin;
    const float* q = y + begin;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = 0; i < end - begin; ++i) s += double(p[i]) * double(q[i]);
    return s;
  }
};

// Count, mean and sum of squared deviations; merged with the pairwise update of Chan, Golub and LeVeque,
// which stays accurate when the mean is large compared with the spread.
struct Moments {
  double count, mean, m2;
};

TW_HD inline Moments merge_moments(const Moments& a, const Moments& b) {
  double n = a.count + b.count;
  if (n == 0) return a;
  double delta = b.mean - a.mean;
  return {n, a.mean + delta * (b.count / n), a.m2 + b.m2 + delta * delta * (a.count * b.count / n)};
}

// Moments of n contiguous values in two passes, the mean and then squared deviations from it: for
// blocks that sit in cache (a reduction chunk, a GroupNorm group).
inline Moments block_moments(const float* p, std::int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (std::int64_t i = 0; i < n; ++i) s += p[i];
  double mean = s / double(n), m2 = 0;
#pragma omp simd reduction(+ : m2)
  for (std::int64_t i = 0; i < n; ++i) m2 += (p[i] - mean) * (p[i] - mean);
  return {double(n), mean, m2};
}

struct MomentsReducer {
  using Value = Moments;
  const float* x;
  TW_HD Value identity() const { return {0, 0, 0}; }
  TW_HD Value element(std::int64_t i) const { return {1, double(x[i]), 0}; }
  TW_HD static Value combine(const Value& a, const Value& b) { return merge_moments(a, b); }
  Value chunk(std::int64_t begin, std::int64_t end) const { return block_moments(x + begin, end - begin); }
};

struct MomentsToMeanVar {
  const Moments* moments;
  float* mean;
  float* var;
  TW_HD void operator()(std::int64_t g) const {
    Moments m = moments[g];
    mean[g] = float(m.mean);
    var[g] = m.count > 0 ? float(m.m2 / m.count) : 0.0f;
  }
};

}  // namespace tweedie

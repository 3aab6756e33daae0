#include "runtime/check.h"

#include <cmath>

#include "runtime/error.h"

namespace tweedie {

void expect_tensor(const Context& ctx, const char* op, const char* name, const Tensor& t, DType dtype) {
  if (!t.defined()) throw ArgumentError(cat(op, ": ", name, " is an undefined tensor"));
  if (t.device() != ctx.device())
    throw DeviceError(cat(op, ": ", name, " is ", t.str(), " but the context runs on ", ctx.device().str()));
  if (t.dtype() != dtype) throw DTypeError(cat(op, ": ", name, " is ", t.str(), ", expected ", dtype_name(dtype)));
}

void expect_shape(const char* op, const char* name, const Tensor& t, const Shape& shape) {
  if (t.shape() != shape) throw ShapeError(cat(op, ": ", name, " is ", t.str(), ", expected shape ", shape.str()));
}

void expect_same_shape(const char* op, const char* name_a, const Tensor& a, const char* name_b, const Tensor& b) {
  if (a.shape() != b.shape())
    throw ShapeError(cat(op, ": ", name_b, " is ", b.str(), ", expected shape ", a.shape().str(), " like ", name_a));
}

void expect_rank(const char* op, const char* name, const Tensor& t, int rank) {
  if (t.rank() != rank) throw ShapeError(cat(op, ": ", name, " is ", t.str(), ", expected ", rank, " dimensions"));
}

void expect_distinct(const char* op, const char* name_a, const Tensor& a, const char* name_b, const Tensor& b) {
  auto* a0 = static_cast<const char*>(a.raw_data());
  auto* b0 = static_cast<const char*>(b.raw_data());
  if (a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes())
    throw ArgumentError(cat(op, ": ", name_a, " and ", name_b, " overlap in memory; this op cannot work in place"));
}

void expect_finite_items(const Tensor& batch, const std::string& what, const std::string& why) {
  if (!batch.defined() || batch.rank() < 1 || batch.numel() == 0) return;
  const bool complex = batch.dtype() == DType::c64;
  Tensor host = (complex ? batch.view_as_real() : batch).to_host();
  const float* v = host.data<float>();
  for (std::int64_t i = 0, n = host.numel(); i < n; ++i) {
    if (std::isfinite(v[i])) continue;
    const std::int64_t entry = complex ? i / 2 : i;  // back to the batch's own elements
    const Shape item(batch.shape().dims().subspan(1));
    const std::int64_t per = item.numel();
    throw ArgumentError(cat(what, ": item ", entry / per, " has ", shortest_text(v[i]), " at ", item.index_str(entry % per),
                            " of its ", item.str(), " values; ", why));
  }
}

}  // namespace tweedie

#include "kernels/concat.h"

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

// Checks that the parts tile y along dimension 1 and returns the elements per channel (inner size).
std::int64_t check_parts(Context& ctx, const char* op, const std::vector<Tensor>& parts, const Tensor& y) {
  expect_tensor(ctx, op, "y", y);
  if (y.rank() < 2) throw ShapeError(cat(op, ": y is ", y.str(), ", expected at least 2 dimensions"));
  std::int64_t channels = 0;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const Tensor& t = parts[p];
    std::string name = cat("part ", p);
    expect_tensor(ctx, op, name.c_str(), t);
    bool fits = t.rank() == y.rank() && t.dim(0) == y.dim(0);
    for (int d = 2; fits && d < y.rank(); ++d) fits = t.dim(d) == y.dim(d);
    if (!fits) throw ShapeError(cat(op, ": ", name, " is ", t.str(), ", which does not fit y ", y.str(), " along dimension 1"));
    channels += t.dim(1);
  }
  if (channels != y.dim(1))
    throw ShapeError(cat(op, ": the parts have ", channels, " channels in all, y ", y.str(), " has ", y.dim(1)));
  return y.shape().stride(1);
}

}  // namespace

void concat_channels(Context& ctx, const std::vector<Tensor>& parts, Tensor& y) {
  std::int64_t inner = check_parts(ctx, "concat_channels", parts, y);
  std::int64_t offset = 0, full_row = y.dim(1) * inner;
  for (const Tensor& t : parts) {
    expect_distinct("concat_channels", "a part", t, "y", y);
    std::int64_t part_row = t.dim(1) * inner;
    for_each_2d(ctx, y.dim(0), part_row, ChannelSlab{t.data<float>(), y.data<float>(), part_row, full_row, offset, true});
    offset += part_row;
  }
}

void split_channels(Context& ctx, const Tensor& y, std::vector<Tensor>& parts) {
  std::int64_t inner = check_parts(ctx, "split_channels", parts, y);
  std::int64_t offset = 0, full_row = y.dim(1) * inner;
  for (Tensor& t : parts) {
    expect_distinct("split_channels", "y", y, "a part", t);
    std::int64_t part_row = t.dim(1) * inner;
    for_each_2d(ctx, y.dim(0), part_row, ChannelSlab{y.data<float>(), t.data<float>(), part_row, full_row, offset, false});
    offset += part_row;
  }
}

}  // namespace tweedie

#include "kernels/im2col.h"

#include <algorithm>

#include "runtime/parallel.h"

namespace tweedie {

void im2col(Context& ctx, const ConvGeometry& g, const float* x, float* col, std::int64_t row_begin, std::int64_t rows) {
  for_each_2d(ctx, g.col_rows() * rows, g.out_w(), Im2col{x, col, g, row_begin, rows, g.out_w()});
}

void col2im_add(Context& ctx, const ConvGeometry& g, const float* col, float* x, std::int64_t row_begin, std::int64_t rows) {
  // Output rows [r0, r1) read input rows [r0*sh - ph, (r1-1)*sh - ph + kh - 1].
  std::int64_t first = std::max<std::int64_t>(0, row_begin * g.stride_h - g.pad_h);
  std::int64_t last = std::min<std::int64_t>(g.height - 1, (row_begin + rows - 1) * g.stride_h - g.pad_h + g.kernel_h - 1);
  if (last < first) return;
  std::int64_t count = last - first + 1;
  for_each_2d(ctx, g.channels * count, g.width, Col2imAdd{col, x, g, row_begin, rows, g.out_w(), first, count});
}

}  // namespace tweedie

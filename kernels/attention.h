#pragma once
// Softmax attention of many heads, out = v softmax(scale q^T k)^T, with its JVP and VJP, none of which
// keeps the T x T weights A.
//
// qkv is (items, 3 heads ch, T): each head's q, k and v are (ch, T) row-major blocks (channel rows of
// T positions, as a 1x1 convolution leaves them) at offsets the layout gives; out is (items, heads ch,
// T). The host splits every head into blocks of query positions and runs each block start to finish on
// one thread: its rows of scores (a block of rows times T), their softmax, and its columns of out. The
// forward pass can keep each row's maximum and 1 / sum of exponentials (2 floats per row instead of
// T), from which the JVP and VJP rebuild a block of A bit for bit as the forward pass made it. At
// T = 4096 and 4 heads that is 128 KiB per item instead of 268 MB, at the price of one more product
// per block: 5 instead of 4 for a JVP or a VJP.
//
// The GPU computes each item's heads as batched cuBLAS products through a heads x T x T buffer and
// does not use the row statistics (its JVP and VJP run the softmax again).
#include <cstdint>

#include "runtime/context.h"

namespace tweedie {

struct AttentionLayout {
  std::int64_t items = 0, heads = 0, ch = 0, tokens = 0;
  std::int64_t head_stride = 0;           // from head h's q to head h+1's q in one item's qkv
  std::int64_t k_offset = 0, v_offset = 0;  // from a head's q to its k and v
  float scale = 1.0f;
  std::int64_t item_stride() const { return 3 * heads * ch * tokens; }
  std::int64_t out_item_stride() const { return heads * ch * tokens; }
};

// out = attention of qkv. `row_stats`, when not null, is (items, heads, T, 2): the rows' maximum and
// 1 / sum, for attend_jvp and attend_vjp (the host fills it; the GPU ignores it).
void attend(Context& ctx, const AttentionLayout& l, const float* qkv, float* out, float* row_stats = nullptr);

// The JVP at qkv (l.items items) of `tangents` tangents dqkv, each (3 heads ch, T), tangent b belonging
// to item b % l.items: dout is (tangents, heads ch, T).
void attend_jvp(Context& ctx, const AttentionLayout& l, const float* qkv, const float* row_stats, const float* dqkv,
                std::int64_t tangents, float* dout);

// The VJP: gqkv (items, 3 heads ch, T) from gout (items, heads ch, T).
void attend_vjp(Context& ctx, const AttentionLayout& l, const float* qkv, const float* row_stats, const float* gout,
                float* gqkv);

namespace detail {
// The GPU's algorithm, through each item's heads x T x T weights with the context's GEMMs and softmax
// kernels; on the host too, where the tests compare it with the blocked loops.
void attend_materialized(Context& ctx, const AttentionLayout& l, const float* qkv, float* out);
void attend_jvp_materialized(Context& ctx, const AttentionLayout& l, const float* qkv, const float* dqkv,
                             std::int64_t tangents, float* dout);
void attend_vjp_materialized(Context& ctx, const AttentionLayout& l, const float* qkv, const float* gout, float* gqkv);
}  // namespace detail

// Query positions per block on the host. Fixed, so that results do not depend on the thread count.
// 1 MiB of scores per thread at T = 4096; 16 to 256 timed the same within 5% (64x64 attention of the
// adm-mid-64 preset at 256x256, 2 threads).
inline constexpr std::int64_t kAttentionQueryBlock = 64;

}  // namespace tweedie

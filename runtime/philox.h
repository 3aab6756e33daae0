#pragma once
// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw ("Parallel random
// numbers: as easy as 1, 2, 3", SC 2011), and the maps from its words to uniform and normal floats.
//
// A counter-based generator is a keyed hash: block = philox(counter, key). There is no state to carry
// or split, so any thread can produce any element directly. tweedie keys it as
//   key     = the 64-bit seed
//   counter = (64-bit block index, 64-bit stream id)
// and element e of a stream comes from word e % 4 of block e / 4. The numbers of a (seed, stream) are
// thus fixed whatever the batch size, thread count, device or number of MPI ranks.
#include <cmath>
#include <cstdint>

#include "runtime/elementary.h"
#include "runtime/hd.h"

namespace tweedie {

struct Philox4x32 {
  std::uint32_t x[4];
};
struct PhiloxKey {
  std::uint32_t k[2];
};

// Ten rounds of the Philox S-box with the published multipliers and Weyl key increments.
TW_HD inline Philox4x32 philox4x32_10(Philox4x32 c, PhiloxKey key) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key.k[0] += kWeyl0;
      key.k[1] += kWeyl1;
    }
    std::uint64_t p0 = std::uint64_t(kMul0) * c.x[0];
    std::uint64_t p1 = std::uint64_t(kMul1) * c.x[2];
    c = Philox4x32{{std::uint32_t(p1 >> 32) ^ c.x[1] ^ key.k[0], std::uint32_t(p1),
                    std::uint32_t(p0 >> 32) ^ c.x[3] ^ key.k[1], std::uint32_t(p0)}};
  }
  return c;
}

// Random123's published known-answer vectors for philox4x32-10 (kat_vectors): counter, key, output.
// The tests and `tweedie check` hold the generator to them.
struct PhiloxKnownAnswer {
  Philox4x32 counter;
  PhiloxKey key;
  Philox4x32 output;
};
inline constexpr PhiloxKnownAnswer kPhiloxKnownAnswers[] = {
    {{{0, 0, 0, 0}}, {{0, 0}}, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
    {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, {{0xffffffff, 0xffffffff}},
     {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
    {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, {{0xa4093822, 0x299f31d0}},
     {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
};

// Block `block` of stream `stream` under `seed`.
TW_HD inline Philox4x32 philox_block(std::uint64_t seed, std::uint64_t stream, std::uint64_t block) {
  Philox4x32 counter{{std::uint32_t(block), std::uint32_t(block >> 32), std::uint32_t(stream),
                      std::uint32_t(stream >> 32)}};
  return philox4x32_10(counter, PhiloxKey{{std::uint32_t(seed), std::uint32_t(seed >> 32)}});
}

// Uniform on [0, 1) from the top 24 bits: every value is an exact float, spaced 2^-24 apart.
TW_HD inline float uniform_from_bits(std::uint32_t bits) { return float(bits >> 8) * (1.0f / 16777216.0f); }

// Two independent standard normals from two words (Box-Muller): radius from a, angle from b.
// u1 = a 2^-32 + 2^-33 (in f32) lies in (0, 1], so the radius is finite; the largest |z| is
// sqrt(-2 log 2^-33) = 6.76. Uses the f32 functions of runtime/elementary.h, so host loops vectorize
// and the GPU produces the same bits.
TW_HD inline void normal_pair_from_bits(std::uint32_t a, std::uint32_t b, float& z0, float& z1) {
  float u1 = fmaf(float(a), 2.3283064365386963e-10f, 1.1641532182693481e-10f);
  float r = sqrtf(-2.0f * log_f32(u1));
  float s, c;
  sincos_turns(float(b >> 8) * 5.9604644775390625e-8f, s, c);  // b's top 24 bits as turns in [0, 1)
  z0 = r * c;
  z1 = r * s;
}

}  // namespace tweedie

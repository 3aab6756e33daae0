// Configure-time probe (tools/cmake/TweedieCompilerProbe.cmake), also run as a unit test
// (tests/runtime/test_compiler.cpp): stores of 256- and 512-bit constants whose high words are zero.
//
// GCC 12.2 (Debian 12.2.0-14) with AVX-512 enabled (-march=native on an AVX-512 CPU, or -mavx512f), and
// with AVX2 alone under the tuning of newer AVX-512 CPUs (-march=native -mno-avx512f on Sapphire Rapids)
// stores such a constant, e.g. the doubles {1, 1, 1, 0} copied as one 32-byte block, as a broadcast of
// its low word: {1, 1, 1, 1}. Its test for "every 64-bit word is the same" reads only the words that the
// compiler's compressed wide-integer constant keeps, and the zero high words are not kept. Any local
// table or initialiser of that shape is silently corrupted (it broke the masked-entry test of
// test_count_noise), so a build that shows it must not be used.
//
// wide_constant_store_failures() returns how many of the patterns came out wrong (0 when all are right).
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

// Each pattern is a constant local to a function the compiler may not inline, copied as one block.
#define TWEEDIE_PROBE_PATTERN(name, type, ...)                          \
  __attribute__((noinline)) void name(type* out) {                     \
    const type constant[] = {__VA_ARGS__};                              \
    std::memcpy(out, constant, sizeof constant);                        \
  }
TWEEDIE_PROBE_PATTERN(doubles_1110, double, 1, 1, 1, 0)
TWEEDIE_PROBE_PATTERN(doubles_2200, double, 2, 2, 0, 0)
TWEEDIE_PROBE_PATTERN(doubles_1x7_0, double, 1, 1, 1, 1, 1, 1, 1, 0)
TWEEDIE_PROBE_PATTERN(ints_5x6_00, std::int32_t, 5, 5, 5, 5, 5, 5, 0, 0)
TWEEDIE_PROBE_PATTERN(floats_1x6_00, float, 1, 1, 1, 1, 1, 1, 0, 0)
#undef TWEEDIE_PROBE_PATTERN

template <class T, int N>
int check(const char* name, void (*store)(T*), const T (&want)[N]) {
  T got[N];
  store(got);
  for (int i = 0; i < N; ++i)
    if (got[i] != want[i]) {
      std::printf("%s: element %d stored as %g instead of %g\n", name, i, double(got[i]), double(want[i]));
      return 1;
    }
  return 0;
}

}  // namespace

int wide_constant_store_failures() {
  int bad = 0;
  bad += check<double, 4>("4 doubles {1, 1, 1, 0}", doubles_1110, {1, 1, 1, 0});
  bad += check<double, 4>("4 doubles {2, 2, 0, 0}", doubles_2200, {2, 2, 0, 0});
  bad += check<double, 8>("8 doubles {1 x 7, 0}", doubles_1x7_0, {1, 1, 1, 1, 1, 1, 1, 0});
  bad += check<std::int32_t, 8>("8 int32 {5 x 6, 0, 0}", ints_5x6_00, {5, 5, 5, 5, 5, 5, 0, 0});
  bad += check<float, 8>("8 floats {1 x 6, 0, 0}", floats_1x6_00, {1, 1, 1, 1, 1, 1, 0, 0});
  return bad;
}

#ifndef TWEEDIE_PROBE_AS_LIBRARY
int main() { return wide_constant_store_failures(); }
#endif

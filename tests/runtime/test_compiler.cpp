// The configure-time compiler probe again, compiled with the flags of the test binaries (the library's
// flags): a build configured around the probe (flags added later, a cached result from another
// compiler) still fails here rather than compute silently different numbers.
#include "support.h"

int wide_constant_store_failures();  // tools/cmake/probes/wide_constant_store.cpp

TEST_CASE("compiler: wide constants with zero high words are stored as written (GCC 12 AVX-512 bug)") {
  CHECK(wide_constant_store_failures() == 0);
}

#include "runtime/parallel.h"

#include <atomic>
#include <vector>

#include "runtime/parallel_reduce.h"
#include "support.h"

using namespace tweedie;

TEST_CASE("for_each on the host visits every index exactly once, on any thread count") {
  for (int threads : {1, 2, 4}) {
    Context ctx(Device::cpu(), threads);
    for (std::int64_t n : {0LL, 1LL, 7LL, 100000LL}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      for_each(ctx, n, [&](std::int64_t i) { hits[std::size_t(i)]++; });
      for (auto& h : hits) CHECK(h.load() == 1);
    }
  }
}

namespace {
// Sums x with a deliberately order-sensitive float-style rounding, to expose any change of order.
struct RoundedSum {
  using Value = double;
  const double* x;
  Value identity() const { return 0.0; }
  Value element(std::int64_t i) const { return x[i]; }
  static Value combine(const Value& a, const Value& b) { return double(float(a + b)); }
};
}  // namespace

TEST_CASE("reduce_rows gives the same bits for every thread count") {
  std::vector<double> x = test::uniform(3 * 50000, 11, 0.0, 1000.0);
  std::vector<double> reference;
  for (int threads : {1, 2, 3}) {
    Context ctx(Device::cpu(), threads);
    std::vector<double> out(3);
    reduce_rows(ctx, 3, 50000, RoundedSum{x.data()}, out.data());
    if (reference.empty()) reference = out;
    CHECK(out == reference);
  }
  // And the values are the row sums (within the float rounding the reducer imposes).
  for (int r = 0; r < 3; ++r) {
    double exact = 0;
    for (int c = 0; c < 50000; ++c) exact += x[r * 50000 + c];
    CHECK(reference[r] == doctest::Approx(exact).epsilon(1e-5));
  }
}

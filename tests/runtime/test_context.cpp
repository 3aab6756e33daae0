#include "runtime/context.h"

#include <omp.h>

#include "runtime/system_info.h"
#include "support.h"

using namespace tweedie;

namespace {
struct CountingState {
  static inline int constructed = 0;
  Device device;
  explicit CountingState(Context& ctx) : device(ctx.device()) { ++constructed; }
};
}  // namespace

TEST_CASE("context keeps its device and thread count") {
  Context ctx(test::device(), 3);
  CHECK(ctx.device() == test::device());
  CHECK(ctx.threads() == 3);
  ctx.set_threads(0);
  CHECK(ctx.threads() == omp_get_max_threads());
  CHECK_THROWS_AS(ctx.set_threads(-1), ArgumentError);
  CHECK((ctx.stream() != nullptr) == test::device().is_cuda());
}

TEST_CASE("context creates each backend state once, on first use") {
  CountingState::constructed = 0;
  Context ctx(test::device());
  CountingState& a = ctx.state<CountingState>();
  CountingState& b = ctx.state<CountingState>();
  CHECK(&a == &b);
  CHECK(a.device == test::device());
  CHECK(CountingState::constructed == 1);
}

TEST_CASE("device names parse and print, and bad names say what was expected") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda") == Device::cuda(0));
  CHECK(Device::parse("cuda:3") == Device::cuda(3));
  CHECK(Device::cuda(2).str() == "cuda:2");
  CHECK_THROWS_WITH_AS(Device::parse("gpu"), "unknown device 'gpu': expected cpu, cuda or cuda:N", ArgumentError);
  CHECK_THROWS_AS(Device::parse("cuda:x"), ArgumentError);
  CHECK_THROWS_AS(Device::parse("cuda:-1"), ArgumentError);
}

TEST_CASE("a CUDA context without the backend or a device is a DeviceError") {
  if (cuda_device_count() > 0) return;  // this machine has one
  CHECK_THROWS_AS(Context(Device::cuda(0)), DeviceError);
}

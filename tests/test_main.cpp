// The doctest main shared by every test binary. TWEEDIE_TEST_DEVICE (cpu, cuda, cuda:N) picks the
// device the tests run on; when it names a CUDA device this build or machine does not have, the binary
// says why and exits with 77, which ctest reports as "skipped".
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

#include "runtime/system_info.h"
#include "support.h"

int main(int argc, char** argv) {
  using namespace tweedie;
  const char* requested = std::getenv("TWEEDIE_TEST_DEVICE");
  Device device = requested ? Device::parse(requested) : Device::cpu();
  if (device.is_cuda()) {
    CudaInfo info = cuda_info();
    if (int(info.devices.size()) <= device.index()) {
      std::printf("SKIPPED: tests on %s need a CUDA device: %s\n", device.str().c_str(),
                  info.devices.empty() ? info.why_no_device.c_str() : "not that many devices");
      return 77;
    }
  }
  test::set_device(device);
  std::printf("[tweedie] running tests on %s\n", device.str().c_str());
  doctest::Context context(argc, argv);
  return context.run();
}

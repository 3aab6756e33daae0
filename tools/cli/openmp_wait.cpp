#include "cli/openmp_wait.h"

#include <unistd.h>

#include <cstdlib>

namespace tweedie::cli {
namespace {

constexpr const char* kSpinCount = "10000";
constexpr const char* kMarker = "TWEEDIE_OPENMP_WAIT_SET";  // set with the others: they came from tweedie

bool user_chose() { return std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("KMP_BLOCKTIME"); }

}  // namespace

void limit_openmp_spinning(char** argv) {
  if (user_chose()) return;
  setenv("GOMP_SPINCOUNT", kSpinCount, 1);
  setenv("KMP_BLOCKTIME", "1", 1);
  setenv(kMarker, "1", 1);
  // The program's own path rather than /proc/self/exe, whose name would become the process's ("exe").
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    execv(self, argv);
  }
  // No /proc (or no exec rights): carry on with the runtime's default, and do not pretend otherwise.
  unsetenv("GOMP_SPINCOUNT");
  unsetenv("KMP_BLOCKTIME");
  unsetenv(kMarker);
}

std::string openmp_wait_description() {
  auto value = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(name) + "=" + (v ? v : "(unset)");
  };
  if (std::getenv(kMarker)) return value("GOMP_SPINCOUNT") + " (tweedie's default on shared nodes; set OMP_WAIT_POLICY or GOMP_SPINCOUNT to choose)";
  if (!user_chose()) return "the OpenMP runtime's default (tweedie could not re-execute itself to limit spinning)";
  return value("OMP_WAIT_POLICY") + ", " + value("GOMP_SPINCOUNT") + ", " + value("KMP_BLOCKTIME") + " (from the environment)";
}

}  // namespace tweedie::cli

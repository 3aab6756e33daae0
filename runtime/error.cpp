#include "runtime/error.h"

#include <charconv>

namespace tweedie {

namespace {
template <class T>
std::string shortest(T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // without a format: the shortest round-trip form
  return std::string(buf, r.ptr);
}
}  // namespace

std::string shortest_text(double v) { return shortest(v); }
std::string shortest_text(float v) { return shortest(v); }

void throw_backend_error(const char* library, const std::string& detail, const char* expr,
                         const char* file, int line) {
  throw BackendError(cat(library, " error: ", detail, "\n  in `", expr, "` at ", file, ":", line));
}

namespace detail {
void not_compiled_for_cuda(const char* loop) {
  throw DeviceError(cat(loop, " on a CUDA context in a file that nvcc did not compile: list the file in "
                              "tweedie_single_source (its folder's CMakeLists.txt)"));
}
}  // namespace detail

}  // namespace tweedie

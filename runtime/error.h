#pragma once
// Errors are exceptions that say what went wrong and where: the op, flag, file or dataset, and the
// shapes or values involved. The C API turns them into status codes plus this message.
#include <sstream>
#include <stdexcept>
#include <string>

namespace tweedie {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Shapes or ranks that do not fit together.
class ShapeError : public Error { using Error::Error; };
// A tensor of the wrong element type.
class DTypeError : public Error { using Error::Error; };
// The wrong device, no device, or a backend this build does not have.
class DeviceError : public Error { using Error::Error; };
// A file, dataset or format problem.
class IoError : public Error { using Error::Error; };
// A bad value from the caller: a flag, an option, an out-of-range argument.
class ArgumentError : public Error { using Error::Error; };
// A vendor library (CUDA, cuBLAS, cuDNN, cuFFT, FFTW, HDF5) reported a failure.
class BackendError : public Error { using Error::Error; };
// A computation produced NaN or infinity where a finite number was needed (a diverging training run).
class NumericError : public Error { using Error::Error; };

// Concatenates anything that streams: cat("got ", n, " items").
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

// The shortest text that reads back as the same number ("0.1", "1e-05", "3"): for messages and for
// canonical specs, which must round-trip.
std::string shortest_text(double v);
std::string shortest_text(float v);

// Builds the message for a failed vendor call and throws BackendError.
[[noreturn]] void throw_backend_error(const char* library, const std::string& detail, const char* expr,
                                      const char* file, int line);

}  // namespace tweedie

// Checks the status a vendor call returns and throws BackendError naming the call, the library's own
// message and the source line. Overloads of tweedie::check_status for each library's status type live
// beside the code that uses that library (runtime/cuda_check.h for CUDA, cuBLAS, cuDNN and cuFFT;
// io/hdf5_check.h for HDF5). The checked value is returned, so `hid_t f = TW_CHECK(H5Fopen(...));`.
#define TW_CHECK(expr) ::tweedie::check_status((expr), #expr, __FILE__, __LINE__)

#include "io/atomic_output.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "runtime/error.h"

namespace tweedie {

AtomicOutput::AtomicOutput(std::string path) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  fs::path target(path_);
  fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw IoError(cat(path_, ": folder ", folder.string(), " does not exist"));
  static std::atomic<int> counter{0};
  temp_path_ = cat(path_, ".partial-", ::getpid(), "-", counter++);
}

AtomicOutput::AtomicOutput(AtomicOutput&& other) noexcept
    : path_(std::move(other.path_)), temp_path_(std::move(other.temp_path_)), committed_(other.committed_) {
  other.committed_ = true;  // the moved-from object owns nothing to clean up
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) std::remove(temp_path_.c_str());
}

void AtomicOutput::commit() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  if (ec) throw IoError(cat(path_, ": could not move the finished file into place: ", ec.message()));
  committed_ = true;
}

}  // namespace tweedie

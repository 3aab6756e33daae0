#include "io/atomic_output.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "runtime/error.h"

namespace tweedie {
namespace {

// The temporary paths of live outputs, in fixed storage a signal handler can read without allocating.
// A slot is free (0), being written (1) or holds a path (2).
constexpr int kSlots = 64;
constexpr std::size_t kMaxPath = 4096;
struct Slot {
  std::atomic<int> state{0};
  char path[kMaxPath];
};
Slot g_slots[kSlots];

int register_temporary(const std::string& path) {
  if (path.size() >= kMaxPath) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int free = 0;
    if (!g_slots[i].state.compare_exchange_strong(free, 1)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(2);
    return i;
  }
  return -1;  // more than 64 outputs at once: the handler will miss this one
}

void unregister_temporary(int slot) {
  if (slot >= 0) g_slots[slot].state.store(0);
}

// A process killed outright (SIGKILL, a node failure) leaves its temporary "<name>.partial-<pid>-<n>"
// behind. The next output to the same path removes those whose process is gone.
void remove_stale_temporaries(const std::filesystem::path& folder, const std::string& name) {
  std::error_code ec;
  const std::string prefix = name + ".partial-";
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with(prefix)) continue;
    long pid = std::strtol(file.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove(entry.path(), ec);
  }
}

}  // namespace

void remove_unfinished_outputs() noexcept {
  for (Slot& slot : g_slots)
    if (slot.state.load() == 2) ::unlink(slot.path);
}

AtomicOutput::AtomicOutput(std::string path) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  fs::path target(path_);
  fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw IoError(cat(path_, ": folder ", folder.string(), " does not exist"));
  remove_stale_temporaries(folder, target.filename().string());
  static std::atomic<int> counter{0};
  temp_path_ = cat(path_, ".partial-", ::getpid(), "-", counter++);
  slot_ = register_temporary(temp_path_);
}

AtomicOutput::AtomicOutput(AtomicOutput&& other) noexcept
    : path_(std::move(other.path_)), temp_path_(std::move(other.temp_path_)), committed_(other.committed_), slot_(other.slot_) {
  other.committed_ = true;  // the moved-from object owns nothing to clean up
  other.slot_ = -1;
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) std::remove(temp_path_.c_str());
  unregister_temporary(slot_);
}

void AtomicOutput::commit() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  if (ec) throw IoError(cat(path_, ": could not move the finished file into place: ", ec.message()));
  committed_ = true;
  unregister_temporary(slot_);
  slot_ = -1;
}

}  // namespace tweedie

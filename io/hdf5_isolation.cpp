#include "io/hdf5_isolation.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "io/hdf5_file.h"
#include "io/hdf5_snapshot.h"

namespace tweedie {
namespace {

constexpr double kDefaultStepSeconds = 0.5;

// The step limit in seconds from TWEEDIE_HDF5_VET, or 0 when isolation is off.
double step_limit() {
  const char* text = std::getenv("TWEEDIE_HDF5_VET");
  if (!text || !*text) return kDefaultStepSeconds;
  std::string value = text;
  if (value == "off") return 0;
  char* end = nullptr;
  double seconds = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(seconds > 0) || seconds > 3600)
    throw IoError(cat("TWEEDIE_HDF5_VET=", value, ": expected \"off\" or the seconds one read of an HDF5 file may take (default ",
                      kDefaultStepSeconds, ")"));
  return seconds;
}

// The pipe carries frames: a type byte, a 64-bit payload length, the payload.
enum Frame : std::uint8_t {
  kStep = 'p',      // f64 extra seconds this read may take, then what is being read
  kSnapshot = 's',  // the encoded H5Snapshot
  kError = 'e',     // the message of the error the read raised
};

void write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0);  // the parent stopped listening: nobody is left to tell
    p += n;
    size -= std::size_t(n);
  }
}

void send(int fd, Frame type, const void* payload, std::uint64_t size) {
  write_all(fd, &type, 1);
  write_all(fd, &size, sizeof size);
  write_all(fd, payload, size);
}

}  // namespace
}  // namespace tweedie

// Set when a sanitizer runtime is linked in (ASan and libFuzzer builds); null otherwise.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace tweedie {
namespace {

[[noreturn]] void read_in_child(const std::string& path, int fd) {
  // A crash must end the child on its signal, not in a sanitizer's or a host's handler that could exit
  // with a status the parent would have to guess at. Under libFuzzer the death callback would save the
  // input as a "crash" of the fuzz target although only this child died, and the parent refused the file.
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, SIG_DFL);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
  int null = ::open("/dev/null", O_WRONLY);
  if (null >= 0) ::dup2(null, STDERR_FILENO);  // HDF5 and sanitizers may print; the parent reports
  try {
    H5File file = H5File::open_in_process(path);
    H5Snapshot snapshot = take_snapshot(file, [&](const std::string& what, double extra_seconds) {
      std::vector<char> payload(sizeof(double) + what.size());
      std::memcpy(payload.data(), &extra_seconds, sizeof(double));
      std::memcpy(payload.data() + sizeof(double), what.data(), what.size());
      send(fd, kStep, payload.data(), payload.size());
    });
    std::vector<std::uint8_t> bytes = encode(snapshot);
    send(fd, kSnapshot, bytes.data(), bytes.size());
  } catch (const Error& e) {
    // The readers' own errors name the file; the few raw HDF5 failures (a link tree that cannot be
    // walked) do not, and the caller would not know which file was meant.
    std::string message = e.what();
    if (message.find(path) == std::string::npos) message = cat(path, ": ", message);
    send(fd, kError, message.data(), message.size());
  } catch (const std::exception& e) {
    std::string message = cat(path, ": ", e.what());
    send(fd, kError, message.data(), message.size());
  }
  // No exception may leave this function, or the child would go on as a second copy of the caller.
  // _exit runs no atexit handlers, so nothing of the parent's (open HDF5 files, stdio buffers) is
  // flushed twice.
  _exit(0);
}

// What the parent saw of the child.
struct Report {
  bool stalled = false;
  int status = 0;
  std::string last_step = "the file";
  std::vector<std::uint8_t> snapshot;  // the kSnapshot payload, if it came
  std::string error;                   // the kError payload, if it came
  bool answered = false;               // a kSnapshot or kError frame came
};

// Reads frames until the child closes the pipe or a read stalls, then reaps the child.
Report watch(pid_t child, int fd, double limit) {
  Report r;
  std::vector<std::uint8_t> buffer;
  std::size_t at = 0;  // start of the first frame not yet handled
  double allowed = limit;
  constexpr std::size_t kHeader = 1 + sizeof(std::uint64_t);
  for (;;) {
    pollfd waiting{fd, POLLIN, 0};
    int ready = ::poll(&waiting, 1, int(std::ceil(allowed * 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      r.stalled = true;
      ::kill(child, SIGKILL);
      break;
    }
    std::uint8_t chunk[1 << 16];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed: the child finished or died
    buffer.insert(buffer.end(), chunk, chunk + n);
    while (buffer.size() - at >= kHeader) {
      std::uint64_t size;
      std::memcpy(&size, buffer.data() + at + 1, sizeof size);
      if (size > buffer.size() - at - kHeader) break;  // incomplete
      const std::uint8_t* payload = buffer.data() + at + kHeader;
      switch (buffer[at]) {
        case kStep:
          if (size >= sizeof(double)) {
            double extra;
            std::memcpy(&extra, payload, sizeof extra);
            allowed = limit + (extra > 0 ? extra : 0);
            r.last_step.assign(reinterpret_cast<const char*>(payload) + sizeof(double), size - sizeof(double));
          }
          break;
        case kSnapshot:
          r.snapshot.assign(payload, payload + size);
          r.answered = true;
          break;
        case kError:
          r.error.assign(reinterpret_cast<const char*>(payload), size);
          r.answered = true;
          break;
      }
      at += kHeader + size;
    }
    if (at == buffer.size()) {
      buffer.clear();
      at = 0;
    }
  }
  ::close(fd);
  while (::waitpid(child, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

// A file is often opened several times in a row (its kind checked, then loaded); each read in a child
// costs a fork and a copy. Snapshots are reused while the file is unchanged (same inode, size and
// modification time): the last small one is kept, larger ones only while someone still holds them.
// The last refusal is kept too: a corrupt file that stalls the reader costs its step limit once.
class SnapshotCache {
 public:
  std::optional<std::string> refusal(const std::string& key) {
    std::lock_guard lock(mutex_);
    if (key == refused_key_) return refusal_;
    return std::nullopt;
  }
  void refuse(const std::string& key, const std::string& message) {
    std::lock_guard lock(mutex_);
    refused_key_ = key;
    refusal_ = message;
  }
  std::shared_ptr<const H5Snapshot> find(const std::string& key) {
    std::lock_guard lock(mutex_);
    if (key == last_key_) return last_;
    auto it = held_.find(key);
    return it == held_.end() ? nullptr : it->second.lock();
  }
  void clear() {
    std::lock_guard lock(mutex_);
    last_key_.clear();
    last_.reset();
    held_.clear();
    refused_key_.clear();
  }
  void keep(const std::string& key, const std::shared_ptr<const H5Snapshot>& snapshot, std::uint64_t file_bytes) {
    std::lock_guard lock(mutex_);
    std::erase_if(held_, [](const auto& entry) { return entry.second.expired(); });
    held_[key] = snapshot;
    if (file_bytes <= kKeepBytes) {
      last_key_ = key;
      last_ = snapshot;
    }
  }

 private:
  static constexpr std::uint64_t kKeepBytes = std::uint64_t(64) << 20;
  std::mutex mutex_;
  std::string last_key_;
  std::shared_ptr<const H5Snapshot> last_;
  std::map<std::string, std::weak_ptr<const H5Snapshot>> held_;
  std::string refused_key_, refusal_;
};

SnapshotCache& snapshot_cache() {
  static SnapshotCache cache;
  return cache;
}

}  // namespace

bool hdf5_isolation_enabled() { return step_limit() > 0; }

void forget_hdf5_snapshots() { snapshot_cache().clear(); }

namespace {

// What reading a file in a child concluded: its snapshot, or why the file is refused.
struct Outcome {
  std::shared_ptr<const H5Snapshot> snapshot;
  std::string refusal;
};

// Throws IoError only when no child could be started (pipe, fork): that says nothing about the file.
Outcome read_in_child_process(const std::string& path, double limit) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw IoError(cat(path, ": cannot start the process that reads it (pipe: ", std::strerror(errno),
                      "); TWEEDIE_HDF5_VET=off reads it in this process"));
  const pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) {
    int error = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw IoError(cat(path, ": cannot start the process that reads it (fork: ", std::strerror(error),
                      "); TWEEDIE_HDF5_VET=off reads it in this process"));
  }
  if (child == 0) {
    // A child spinning in libhdf5 would outlive a parent killed meanwhile: die with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(0);  // the parent died before prctl took effect
    ::close(fds[0]);
    read_in_child(path, fds[1]);
  }
  ::close(fds[1]);
  Report r = watch(child, fds[0], limit);
  if (r.stalled)
    return {nullptr, cat(path, ": corrupt HDF5 file? reading ", r.last_step, " took longer than ", limit,
                         " s and was stopped (TWEEDIE_HDF5_VET sets this limit in seconds)")};
  bool clean_exit = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
  if (r.answered && clean_exit) {
    if (!r.error.empty()) return {nullptr, r.error};
    try {
      return {std::make_shared<const H5Snapshot>(decode(r.snapshot.data(), r.snapshot.size(), path)), ""};
    } catch (const IoError& e) {
      return {nullptr, e.what()};
    }
  }
  if (WIFSIGNALED(r.status))
    return {nullptr, cat(path, ": corrupt HDF5 file: the HDF5 library crashed (", strsignal(WTERMSIG(r.status)), ") reading ",
                         r.last_step, "; it was reading in a separate process, which alone died")};
  return {nullptr, cat(path, ": corrupt HDF5 file: the process reading ", r.last_step, " ended with status ",
                       WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1, " before it finished")};
}

}  // namespace

std::shared_ptr<const H5Snapshot> read_hdf5_isolated(const std::string& path) {
  const double limit = step_limit();
  struct stat info {};
  std::string key;
  if (::stat(path.c_str(), &info) == 0)
    key = cat(path, '\n', info.st_dev, ':', info.st_ino, ':', info.st_size, ':', info.st_mtim.tv_sec, '.', info.st_mtim.tv_nsec);
  SnapshotCache& cache = snapshot_cache();
  if (!key.empty()) {
    if (auto cached = cache.find(key)) return cached;
    if (auto refused = cache.refusal(key)) throw IoError(*refused);
  }
  Outcome o = read_in_child_process(path, limit);
  if (!o.snapshot) {
    if (!key.empty()) cache.refuse(key, o.refusal);
    throw IoError(o.refusal);
  }
  if (!key.empty()) cache.keep(key, o.snapshot, std::uint64_t(info.st_size));
  return o.snapshot;
}

}  // namespace tweedie

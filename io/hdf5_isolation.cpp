#include "io/hdf5_isolation.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

[[noreturn]] void read_in_child(const std::string& path, int fd) {
  // A crash must end the child on its signal, not in a sanitizer's or a host's handler that could exit
  // with a status the parent would have to guess at.
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, SIG_DFL);
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
class SnapshotCache {
 public:
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
};

SnapshotCache& snapshot_cache() {
  static SnapshotCache cache;
  return cache;
}

}  // namespace

bool hdf5_isolation_enabled() { return step_limit() > 0; }

void forget_hdf5_snapshots() { snapshot_cache().clear(); }

std::shared_ptr<const H5Snapshot> read_hdf5_isolated(const std::string& path) {
  double limit = step_limit();
  struct stat info {};
  std::string key;
  if (::stat(path.c_str(), &info) == 0)
    key = cat(path, '\n', info.st_dev, ':', info.st_ino, ':', info.st_size, ':', info.st_mtim.tv_sec, '.', info.st_mtim.tv_nsec);
  if (auto cached = key.empty() ? nullptr : snapshot_cache().find(key)) return cached;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw IoError(cat(path, ": cannot start the process that reads it (pipe: ", std::strerror(errno),
                      "); TWEEDIE_HDF5_VET=off reads it in this process"));
  pid_t child = ::fork();
  if (child < 0) {
    int error = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw IoError(cat(path, ": cannot start the process that reads it (fork: ", std::strerror(error),
                      "); TWEEDIE_HDF5_VET=off reads it in this process"));
  }
  if (child == 0) {
    ::close(fds[0]);
    read_in_child(path, fds[1]);
  }
  ::close(fds[1]);
  Report r = watch(child, fds[0], limit);
  if (r.stalled)
    throw IoError(cat(path, ": corrupt HDF5 file? reading ", r.last_step, " took longer than ", limit,
                      " s and was stopped (TWEEDIE_HDF5_VET sets this limit in seconds)"));
  bool clean_exit = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
  if (r.answered && clean_exit) {
    if (!r.error.empty()) throw IoError(r.error);
    auto snapshot = std::make_shared<const H5Snapshot>(decode(r.snapshot.data(), r.snapshot.size(), path));
    if (!key.empty()) snapshot_cache().keep(key, snapshot, std::uint64_t(info.st_size));
    return snapshot;
  }
  if (WIFSIGNALED(r.status))
    throw IoError(cat(path, ": corrupt HDF5 file: the HDF5 library crashed (", strsignal(WTERMSIG(r.status)),
                      ") reading ", r.last_step, "; it was reading in a separate process, which alone died"));
  throw IoError(cat(path, ": corrupt HDF5 file: the process reading ", r.last_step, " ended with status ",
                    WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1, " before it finished"));
}

}  // namespace tweedie

#pragma once
// Nothing half-written: an output is written under a temporary name beside its final path and renamed
// into place only when complete. If the writer fails or forgets to commit, the temporary file is removed
// and whatever stood at the final path before is untouched.
#include <string>

namespace tweedie {

class AtomicOutput {
 public:
  explicit AtomicOutput(std::string path);  // throws IoError if the folder does not exist
  ~AtomicOutput();                          // removes the temporary file unless committed
  AtomicOutput(AtomicOutput&& other) noexcept;
  AtomicOutput& operator=(AtomicOutput&&) = delete;
  AtomicOutput(const AtomicOutput&) = delete;

  const std::string& path() const { return path_; }            // where the result will be
  const std::string& temp_path() const { return temp_path_; }  // where to write it now
  void commit();                                               // rename into place

 private:
  std::string path_, temp_path_;
  bool committed_ = false;
  int slot_ = -1;  // in the registry remove_unfinished_outputs() reads
};

// Removes the temporary file of every AtomicOutput not yet committed or destroyed. Async-signal-safe:
// for a signal handler that ends the process before destructors can run.
void remove_unfinished_outputs() noexcept;

}  // namespace tweedie

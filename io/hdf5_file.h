#pragma once
// HDF5 files of tensors: datasets in, datasets out, and attributes that describe them.
//
// Reading converts whatever floating type a dataset holds (f64, f32, f16) to the requested type, as
// HDF5 does natively. Complex data use h5py's layout: a compound of two floats named "r" and "i". A
// file is created under a temporary name and appears at its path only at commit(), so a failed run
// leaves no half-written file. Errors name the file and the dataset.
//
// libhdf5 trusts the bytes of a file and can crash or hang on a corrupt one, so open() reads an existing
// file in a child process and serves every read from what the child sent back (io/hdf5_isolation.h).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_output.h"
#include "runtime/tensor.h"

namespace tweedie {

// How write() stores an f32 tensor: as is, as IEEE binary16 (h5py reads it as float16), or as
// bfloat16 (16-bit unsigned integers with the attribute dtype = "bf16", as no HDF5 type exists for it).
// Reading widens either back to f32 exactly.
enum class StoredAs { f32, f16, bf16 };

struct H5Snapshot;

class H5File {
 public:
  // Read-only. The file is read whole in a child process first (unless TWEEDIE_HDF5_VET=off), so a
  // file that crashes or hangs libhdf5 ends in an IoError naming it, not in a crash of this process.
  static H5File open(const std::string& path);
  // Read-only, with libhdf5 in this process: for files this process wrote or otherwise trusts.
  static H5File open_in_process(const std::string& path);
  static H5File create(const std::string& path);  // new file, visible at `path` after commit()
  ~H5File();
  H5File(H5File&& other) noexcept;
  H5File& operator=(H5File&&) = delete;
  H5File(const H5File&) = delete;

  const std::string& path() const { return path_; }

  // Datasets are named by path inside the file ("samples", "coil/maps").
  bool has(const std::string& dataset) const;
  std::vector<std::string> datasets() const;  // every dataset, depth first, full paths
  Shape shape(const std::string& dataset) const;
  // f32 for real datasets, c64 for complex ones, unless `dtype` asks otherwise (f32 or c64).
  Tensor read(const std::string& dataset, Device device = Device::cpu()) const;
  Tensor read(const std::string& dataset, DType dtype, Device device = Device::cpu()) const;
  // Writes an f32 or c64 tensor (from any device); parent groups are created as needed. f32 tensors may
  // be stored narrower (rounded to nearest even).
  void write(const std::string& dataset, const Tensor& tensor, StoredAs stored = StoredAs::f32);
  // How a real dataset is stored: f32 for any float or integer type except the two 16-bit float formats.
  StoredAs stored_as(const std::string& dataset) const;

  // Attributes of the root ("" or "/") or of a dataset or group.
  void set_attribute(const std::string& object, const std::string& name, const std::string& value);
  void set_attribute(const std::string& object, const std::string& name, double value);
  void set_attribute(const std::string& object, const std::string& name, std::int64_t value);
  bool has_attribute(const std::string& object, const std::string& name) const;
  std::string string_attribute(const std::string& object, const std::string& name) const;
  double number_attribute(const std::string& object, const std::string& name) const;

  // Closes the file and moves it to its path. Without commit, a created file is discarded.
  void commit();

 private:
  friend H5Snapshot take_snapshot(const H5File&, const std::function<void(const std::string&, double)>&);
  H5File(std::string path, std::int64_t id, std::unique_ptr<AtomicOutput> output);
  H5File(std::string path, std::shared_ptr<const H5Snapshot> snapshot);
  void require_writable(const char* what) const;
  std::string where(const std::string& dataset) const;  // "file.h5: dataset 'x'"

  std::string path_;
  std::int64_t id_ = -1;  // hid_t
  bool writable_ = false;
  std::unique_ptr<AtomicOutput> output_;
  std::shared_ptr<const H5Snapshot> snapshot_;  // an isolated read: answers instead of libhdf5
};

std::string hdf5_version();

}  // namespace tweedie

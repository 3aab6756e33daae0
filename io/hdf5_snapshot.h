#pragma once
// Everything H5File's readers can ask of a file, read once: every dataset (shape, stored type, values
// as read() returns them, or the error read() raised) and every attribute of every object (its string
// or number value, or the error). The isolated reader (hdf5_isolation.h) builds one in a child process
// and sends it to the parent as bytes; the parent's H5File then answers from it, never calling libhdf5.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "io/hdf5_file.h"

namespace tweedie {

struct H5Snapshot {
  struct Dataset {
    std::string header_error;  // what shape() or stored_as() threw; thrown again when asked
    std::string read_error;    // what read() threw past its type checks
    Shape shape;
    bool complex = false;     // h5py's {r, i} compound
    bool numeric = false;     // integer or float
    StoredAs stored = StoredAs::f32;
    Tensor values;            // f32 or c64, on the host
  };
  struct Attribute {
    bool is_string = false, is_number = false;
    std::string text;
    double number = 0;
    std::string error;  // what string_attribute() or number_attribute() threw
  };

  std::vector<std::string> dataset_order;  // as datasets() lists them
  std::map<std::string, Dataset> datasets;
  std::set<std::string> objects;  // "" for the root group, then every group and dataset
  std::map<std::string, std::map<std::string, Attribute>> attributes;  // by object, then by name
};

// Object names as the snapshot keys them: no leading or trailing '/', "" for the root.
std::string snapshot_key(const std::string& object);

// Reads all of `file` (opened in process). `step(what, seconds)` is called before each read with a
// description and the time that read may take.
H5Snapshot take_snapshot(const H5File& file, const std::function<void(const std::string&, double)>& step);

// The bytes sent between the processes, and back. decode() checks every length against the buffer and
// throws IoError naming `path` on anything malformed.
std::vector<std::uint8_t> encode(const H5Snapshot& snapshot);
H5Snapshot decode(const std::uint8_t* bytes, std::size_t size, const std::string& path);

}  // namespace tweedie

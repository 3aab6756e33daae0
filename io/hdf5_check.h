#pragma once
// TW_CHECK overloads for HDF5's status types: herr_t/htri_t (int) and hid_t (int64_t), negative on
// failure. Included only by io/ sources, where every int status comes from HDF5.
#include <hdf5.h>

#include <functional>
#include <string>

#include "runtime/error.h"

namespace tweedie {

// The innermost message on HDF5's error stack ("unable to open file", ...), or "" if none.
std::string hdf5_error_message();

// h5py's complex layout: a compound of two members named "r" and "i".
bool is_complex_type(hid_t type);

// Calls `visit` with the full path of every link below the root, depth first (H5Lvisit, whose
// callback type changed in HDF5 1.12).
void visit_links(hid_t file, const std::function<void(const char* name)>& visit);

inline int check_status(int status, const char* expr, const char* file, int line) {
  if (status < 0) throw_backend_error("HDF5", hdf5_error_message(), expr, file, line);
  return status;
}
inline hid_t check_status(hid_t id, const char* expr, const char* file, int line) {
  if (id < 0) throw_backend_error("HDF5", hdf5_error_message(), expr, file, line);
  return id;
}

}  // namespace tweedie

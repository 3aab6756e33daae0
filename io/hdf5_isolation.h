#pragma once
// Reading an HDF5 file in a child process, so that libhdf5 crashing or hanging on it cannot take the
// caller down.
//
// libhdf5 trusts the bytes of a file. A corrupt heap pointer in a variable-length string attribute makes
// 1.10.8 (Debian 12) read far out of bounds in H5HG_read, which crashes or, depending on what happens to
// lie there, returns garbage or spins for minutes. Checking the file first in a child is not enough: an
// out-of-bounds read that happened to survive in the child may fault in the parent. The reads cannot be
// made safe from outside the library, and a second HDF5 parser of our own would be a second thing to get
// wrong. So the child does all the reading: it opens the file, reads every object, attribute and dataset
// the way H5File does, and sends the result (an H5Snapshot) down a pipe; the parent answers H5File's
// questions from it and never calls libhdf5 on the file. Before each read the child says what it is
// about to read; if it dies on a signal, or one read takes longer than the step limit (plus one second
// per 64 MiB of values), the parent stops it and throws an IoError naming the file and that read.
//
// Cost: a fork and one copy of the file's values through the pipe (about 1 ms and 1 GB/s here), and the
// file's values held twice while they are decoded.
//
// TWEEDIE_HDF5_VET: "off" reads files in this process (trusted files, or a host process in which fork()
// is unwelcome); a number sets the step limit in seconds (default 0.5).
#include <memory>
#include <string>

namespace tweedie {

struct H5Snapshot;

// Whether H5File::open reads files in a child process (TWEEDIE_HDF5_VET is not "off"). Throws IoError
// naming the variable if its value is neither "off" nor a number of seconds.
bool hdf5_isolation_enabled();

// All of `path` as H5File would read it, read in a child process. Throws IoError naming the file if the
// file cannot be read (the child's own error), or if libhdf5 crashed or stalled reading it.
std::shared_ptr<const H5Snapshot> read_hdf5_isolated(const std::string& path);

// Snapshots are reused while a file's inode, size and modification time are unchanged (a file is often
// opened several times in a row). A file rewritten with the same size within one timestamp tick (a few
// ms) would look unchanged: a program that does that (the fuzz target) forgets them first.
void forget_hdf5_snapshots();

}  // namespace tweedie

#pragma once
// The readers of foreign checkpoint formats, each returning every tensor in the file (io/checkpoint.h).
//
//   read_torch_checkpoint   PyTorch torch.save files: the zip format (archive/data.pkl plus
//                           archive/data/<key> storages) and the legacy pre-1.6 stream format. A
//                           restricted unpickler (io/pickle.h) that knows only what state dicts need.
//   read_safetensors        8-byte header length, JSON header, data.
//   read_npy / read_npz     NumPy .npy arrays and .npz archives of them (stored or deflated).
//   read_checkpoint         picks one of the above from the file's first bytes.
//
// All of them throw IoError naming the file (and the entry or tensor) on anything malformed.
#include <string>

#include "io/checkpoint.h"
#include "io/zip_archive.h"

namespace tweedie {

TensorDict read_torch_checkpoint(const std::string& path);
TensorDict read_torch_checkpoint(const ZipArchive& zip);  // the zip format, from an archive already open
// The same from bytes in memory (either format); `what` names them in errors as the path would.
TensorDict read_torch_checkpoint(std::vector<std::uint8_t> bytes, const std::string& what);
TensorDict read_safetensors(const std::string& path);
TensorDict read_safetensors(const std::vector<std::uint8_t>& bytes, const std::string& what);
TensorDict read_npz(const std::string& path);
TensorDict read_npz(const ZipArchive& archive);
RawTensor read_npy(const std::vector<std::uint8_t>& bytes, const std::string& what);
TensorDict read_checkpoint(const std::string& path);

}  // namespace tweedie

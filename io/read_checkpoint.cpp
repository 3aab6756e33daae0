// Which reader a checkpoint needs, decided from its first bytes rather than its file name: people
// rename .pt to .pth, .bin or .ckpt freely.
#include <filesystem>
#include <fstream>

#include "io/checkpoint_readers.h"
#include "io/zip_archive.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

std::vector<std::uint8_t> first_bytes(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(cat(path, ": cannot open for reading"));
  std::vector<std::uint8_t> bytes(n);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(n));
  bytes.resize(std::size_t(in.gcount()));
  return bytes;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

TensorDict read_checkpoint(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw IoError(cat(path, ": is a folder, not a checkpoint file"));
  std::vector<std::uint8_t> head = first_bytes(path, 16);
  if (looks_like_zip(head)) {
    // PyTorch's zip format holds <prefix>/data.pkl; an .npz holds only .npy entries. The archive is
    // read once and handed to the reader.
    const ZipArchive zip = ZipArchive::open(path);
    for (const ZipArchive::Entry& e : zip.entries())
      if (ends_with(e.name, "/data.pkl") || e.name == "data.pkl") return read_torch_checkpoint(zip);
    return read_npz(zip);
  }
  static const std::uint8_t npy_magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (head.size() >= 6 && std::equal(npy_magic, npy_magic + 6, head.begin())) {
    std::string name = std::filesystem::path(path).stem().string();
    TensorDict out;
    out.emplace(name, read_npy(read_file_bytes(path), path));
    return out;
  }
  // A pickle stream starting with the PROTO opcode: PyTorch's legacy (pre-1.6) format.
  if (head.size() >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return read_torch_checkpoint(path);
  // safetensors: a header length, then a JSON object.
  if (head.size() >= 9 && head[8] == '{') return read_safetensors(path);
  throw IoError(cat(path, ": not a recognised checkpoint (expected a PyTorch .pt/.pth, a .safetensors, an .npz or an .npy file)"));
}

}  // namespace tweedie

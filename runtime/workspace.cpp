#include "runtime/workspace.h"

#include <algorithm>
#include <cstdint>

#include "runtime/error.h"
#include "runtime/memory.h"

namespace tweedie {
namespace {
constexpr std::size_t kAlignment = 256;
constexpr std::size_t kMinChunk = std::size_t(1) << 20;
std::size_t round_up(std::size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }
}  // namespace

Workspace::~Workspace() {
  for (Chunk& c : chunks_) deallocate(device_, c.data, c.size);
}

std::size_t Workspace::capacity() const {
  std::size_t total = 0;
  for (const Chunk& c : chunks_) total += c.size;
  return total;
}

void Workspace::merge_chunks() {
  if (chunks_.size() < 2) return;
  std::size_t total = capacity();
  for (Chunk& c : chunks_) deallocate(device_, c.data, c.size);
  chunks_.clear();
  chunks_.push_back({allocate(device_, total), total});
}

Workspace::Scope::Scope(Workspace& ws) : ws_(ws), chunk_(ws.top_chunk_), offset_(ws.top_offset_) {
  ++ws_.open_scopes_;
}

Workspace::Scope::~Scope() {
  ws_.top_chunk_ = chunk_;
  ws_.top_offset_ = offset_;
  if (--ws_.open_scopes_ == 0) ws_.merge_chunks();
}

void* Workspace::Scope::take_bytes(std::size_t bytes) {
  Workspace& ws = ws_;
  bytes = round_up(std::max<std::size_t>(bytes, 1));
  // Fill the current chunk, then later ones that are large enough, then grow. Alignment is of the
  // address itself: host chunks are only 64-byte aligned.
  while (ws.top_chunk_ < ws.chunks_.size()) {
    Chunk& c = ws.chunks_[ws.top_chunk_];
    auto base = reinterpret_cast<std::uintptr_t>(c.data);
    std::uintptr_t start = round_up(base + ws.top_offset_);
    if (start + bytes <= base + c.size) {
      ws.top_offset_ = start + bytes - base;
      return reinterpret_cast<void*>(start);
    }
    ++ws.top_chunk_;
    ws.top_offset_ = 0;
  }
  std::size_t size = std::max({bytes + kAlignment, kMinChunk, ws.capacity()});
  ws.chunks_.push_back({allocate(ws.device_, size), size});
  ws.top_chunk_ = ws.chunks_.size() - 1;
  ws.top_offset_ = 0;
  return take_bytes(bytes);
}

}  // namespace tweedie

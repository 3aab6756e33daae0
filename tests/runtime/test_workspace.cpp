#include "runtime/workspace.h"

#include <cstdint>

#include "support.h"

using namespace tweedie;

TEST_CASE("workspace hands out aligned, disjoint blocks and takes them back at scope end") {
  Workspace ws(test::device());
  char *a, *b;
  {
    Workspace::Scope s(ws);
    a = static_cast<char*>(s.take_bytes(100));
    b = static_cast<char*>(s.take_bytes(300));
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 256 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(b) % 256 == 0);
    CHECK(b >= a + 100);
    {
      Workspace::Scope inner(ws);
      char* c = static_cast<char*>(inner.take_bytes(10));
      CHECK(c >= b + 300);
    }
    // The inner scope's block is free again: the next take gets the same place.
    char* d = static_cast<char*>(s.take_bytes(10));
    CHECK(d >= b + 300);
  }
  Workspace::Scope again(ws);
  CHECK(static_cast<char*>(again.take_bytes(100)) == a);
}

TEST_CASE("workspace grows past its first chunk and merges chunks when idle") {
  Workspace ws(test::device());
  const std::size_t mib = 1 << 20;
  {
    Workspace::Scope s(ws);
    void* a = s.take_bytes(mib);
    void* b = s.take_bytes(3 * mib);  // does not fit beside a: a second chunk
    CHECK(a != b);
    CHECK(ws.capacity() >= 4 * mib);
  }
  std::size_t merged = ws.capacity();
  CHECK(merged >= 4 * mib);
  {
    Workspace::Scope s(ws);  // both fit in the merged chunk now: no growth
    s.take_bytes(mib);
    s.take_bytes(3 * mib);
    CHECK(ws.capacity() == merged);
  }
}

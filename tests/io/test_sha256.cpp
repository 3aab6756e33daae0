#include "io/sha256.h"

#include <string>

#include "support.h"

using namespace tweedie;

namespace {
std::string digest(const std::string& message, std::size_t piece) {
  Sha256 h;
  for (std::size_t i = 0; i < message.size(); i += piece) h.update(message.data() + i, std::min(piece, message.size() - i));
  return Sha256::hex(h.finish());
}
}  // namespace

TEST_CASE("SHA-256 reproduces the FIPS 180-4 example digests, fed whole or in odd pieces") {
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  for (std::size_t piece : {std::size_t(1), std::size_t(7), std::size_t(64), std::size_t(1) << 20}) {
    CAPTURE(piece);
    CHECK(digest("", piece) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(digest("abc", piece) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(digest(two_blocks, piece) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  }
  CHECK(digest(std::string(1000000, 'a'), 4096) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The ZIP reader (io/zip_archive.h): the end records and central directory, then every entry's local
// header, inflation and CRC.
#include "io/zip_archive.h"
#include "tools/fuzz/fuzz_target.h"

TWEEDIE_FUZZ_TARGET(zip)(const std::uint8_t* data, std::size_t size) {
  return tweedie::fuzz::refuse_cleanly([&] {
    const tweedie::ZipArchive zip = tweedie::ZipArchive::from_bytes(tweedie::fuzz::bytes_of(data, size), "fuzz.zip");
    for (const tweedie::ZipArchive::Entry& e : zip.entries()) {
      try {
        (void)zip.read(e.name);
      } catch (const tweedie::Error&) {
        // one bad entry says nothing about the next: keep reading them all
      }
    }
  });
}

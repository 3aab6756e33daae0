#include "io/png_file.h"

#include <png.h>

#include <filesystem>

#include "runtime/error.h"
#include "support.h"

using namespace tweedie;

namespace {

struct Decoded {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
};

// Decoded with libpng's simplified reading API, independently of how the file was written.
Decoded decode(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_file(&image, path.c_str()) != 0);
  Decoded d;
  d.width = int(image.width), d.height = int(image.height);
  d.channels = (image.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  image.format = d.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  d.pixels.resize(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, d.pixels.data(), 0, nullptr) != 0);
  return d;
}

}  // namespace

TEST_CASE("PNG grids place each image, map [lo, hi] to 0..255 and clip") {
  test::TempDir dir;
  // Two RGB 2x3 images; value = (k * 100 + c * 10 + y * 3 + x) / 255 * 2 - 1 spans [-1, 1] in steps.
  const int n = 2, c = 3, h = 2, w = 3;
  std::vector<double> v;
  for (int k = 0; k < n; ++k)
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) v.push_back((k * 100 + ch * 10 + y * 3 + x) / 255.0 * 2 - 1);
  v[0] = -7, v[1] = 9;  // clipped to 0 and 255
  write_png_grid(dir.file("grid.png"), test::upload(v, {n, c, h, w}).to(Device::cpu()), -1, 1, 2, 1);
  Decoded d = decode(dir.file("grid.png"));
  CHECK(d.width == 2 * w + 1);
  CHECK(d.height == h);
  CHECK(d.channels == 3);
  auto at = [&](int x, int y, int ch) { return int(d.pixels[(std::size_t(y) * d.width + x) * 3 + ch]); };
  CHECK(at(0, 0, 0) == 0);
  CHECK(at(1, 0, 0) == 255);
  CHECK(at(2, 1, 2) == 20 + 3 + 2);
  CHECK(at(w + 1 + 2, 1, 1) == 100 + 10 + 3 + 2);  // second image, after the one-pixel gap
  CHECK(at(w, 0, 0) == 0);                         // the gap is black

  write_png(dir.file("grey.png"), test::upload(std::vector<double>{-1.0, 0.0, 1.0, 0.5}, {1, 2, 2}).to(Device::cpu()));
  Decoded g = decode(dir.file("grey.png"));
  CHECK(g.channels == 1);
  CHECK(g.pixels == std::vector<std::uint8_t>{0, 128, 255, 191});
}

TEST_CASE("PNG output refuses what is not an image and leaves nothing behind") {
  test::TempDir dir;
  CHECK_THROWS_WITH_AS(write_png(dir.file("a.png"), Tensor::zeros({2, 4, 4})), doctest::Contains("C = 1 or 3"), ShapeError);
  CHECK_THROWS_WITH_AS(write_png_grid(dir.file("b.png"), Tensor::zeros({2, 3, 4})), doctest::Contains("(N, C, H, W)"), ShapeError);
  CHECK_THROWS_WITH_AS(write_png(dir.file("c.png"), Tensor::zeros({1, 2, 2}), 1, 1), doctest::Contains("is empty"), ArgumentError);
  CHECK(dir.entries() == 0);
}

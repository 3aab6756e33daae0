#include "io/png_file.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <vector>

#include "io/atomic_output.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

struct Raster {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;  // row-major, interleaved channels
};

std::uint8_t to_byte(float v, float lo, float hi) {
  float u = (v - lo) / (hi - lo);
  if (!(u > 0.0f)) return 0;  // also NaN
  if (u >= 1.0f) return 255;
  return std::uint8_t(std::lround(u * 255.0f));
}

void check_images(const Tensor& t, int rank, const std::string& path) {
  if (t.rank() != rank || t.dim(rank - 3) < 1 || (t.dim(rank - 3) != 1 && t.dim(rank - 3) != 3))
    throw ShapeError(cat(path, ": a PNG needs ", rank == 3 ? "(C, H, W)" : "(N, C, H, W)", " with C = 1 or 3, not ",
                         t.shape().str()));
}

void save(const std::string& path, const Raster& r) {
  AtomicOutput out(path);
  FILE* f = std::fopen(out.temp_path().c_str(), "wb");
  if (!f) throw IoError(cat(path, ": cannot create"));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {  // libpng reports errors by longjmp
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    throw IoError(cat(path, ": libpng failed to write the image"));
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(r.width), png_uint_32(r.height), 8, r.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < r.height; ++y)
    png_write_row(png, const_cast<png_bytep>(r.pixels.data() + std::size_t(y) * r.width * r.channels));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fclose(f) != 0) throw IoError(cat(path, ": write failed"));
  out.commit();
}

}  // namespace

void write_png_grid(const std::string& path, const Tensor& images, float lo, float hi, int columns, int gap) {
  check_images(images, 4, path);
  if (!(hi > lo)) throw ArgumentError(cat(path, ": PNG value range [", lo, ", ", hi, "] is empty"));
  const int n = int(images.dim(0)), c = int(images.dim(1)), h = int(images.dim(2)), w = int(images.dim(3));
  const int cols = columns > 0 ? std::min(columns, n) : int(std::ceil(std::sqrt(double(n))));
  const int rows = (n + cols - 1) / cols;
  Raster r;
  r.channels = c, r.width = cols * w + (cols - 1) * gap, r.height = rows * h + (rows - 1) * gap;
  r.pixels.assign(std::size_t(r.width) * r.height * c, 0);
  std::vector<float> v = images.to_vector<float>();
  for (int k = 0; k < n; ++k) {
    const int x0 = (k % cols) * (w + gap), y0 = (k / cols) * (h + gap);
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          r.pixels[(std::size_t(y0 + y) * r.width + (x0 + x)) * c + ch] = to_byte(v[((std::size_t(k) * c + ch) * h + y) * w + x], lo, hi);
  }
  save(path, r);
}

void write_png(const std::string& path, const Tensor& image, float lo, float hi) {
  check_images(image, 3, path);
  write_png_grid(path, image.reshape({1, image.dim(0), image.dim(1), image.dim(2)}), lo, hi, 1, 0);
}

void write_png_view(const std::string& path, const Tensor& images, bool own_range, bool log_magnitude) {
  Tensor shown = images.to_host();
  if (images.dtype() == DType::c64) {
    std::vector<float> mag;
    for (const complex64& v : shown.to_vector<complex64>()) {
      float m = std::hypot(v.re, v.im);
      mag.push_back(log_magnitude ? std::log1p(m) : m);
    }
    shown = Tensor::from_host(std::span<const float>(mag), images.shape());
    own_range = true;
  }
  float lo = -1, hi = 1;
  if (own_range) {
    std::vector<float> v = shown.to_vector<float>();
    auto [a, b] = std::minmax_element(v.begin(), v.end());
    lo = *a, hi = *b > *a ? *b : *a + 1;
  }
  write_png_grid(path, shown, lo, hi);
}

}  // namespace tweedie

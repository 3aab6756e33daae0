// PSNR and SSIM against scikit-image's values on the images of tools/golden/ssim_reference.py.
#include <doctest/doctest.h>

#include <cmath>

#include "samplers/metrics.h"

using namespace tweedie;

TEST_CASE("psnr and ssim match scikit-image on a smooth image and a perturbed copy") {
  const std::int64_t c = 3, h = 24, w = 20;
  std::vector<double> x, r;
  for (std::int64_t k = 0; k < c; ++k)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) {
        double v = std::sin(0.3 * double(i) + 0.2 * double(j) + double(k));
        x.push_back(v);
        r.push_back(v + 0.1 * std::cos(0.7 * double(i * j) + double(k)));
      }
  // tools/golden/ssim_reference.py (scikit-image 0.26, Gaussian window, sigma 1.5, data range 2).
  CHECK(samplers::psnr(r, x, 2.0) == doctest::Approx(29.056111052274).epsilon(1e-10));
  CHECK(samplers::ssim(r, x, Shape{c, h, w}, 2.0) == doctest::Approx(0.967826075504).epsilon(1e-9));
  CHECK(samplers::ssim(x, x, Shape{c, h, w}, 2.0) == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(std::isinf(samplers::psnr(x, x, 2.0)));
  CHECK_THROWS_AS(samplers::ssim(x, x, Shape{c * h * w}, 2.0), ShapeError);
}

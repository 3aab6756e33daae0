// Coil sensitivities from data: ESPIRiT on a simulated 8-coil phantom with known smooth maps (Cartesian
// and radial), judged by the maps up to their per-pixel phase and by CG-SENSE reconstructions with the
// estimated against the true maps; root-sum-of-squares and SVD coil compression against closed forms.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>
#include <numbers>

#include "kernels/axpby.h"
#include "samplers/linalg/krylov.h"
#include "samplers/metrics.h"
#include "samplers/operators/coil_sensitivities.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/coil_phantom.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using cd = std::complex<double>;

namespace {

constexpr std::int64_t kCoils = 8, kSize = 64;

// Multi-coil data y = A x of the phantom, with complex Gaussian noise of standard deviation `sigma`.
Tensor simulate(Context& ctx, const Operator& a, const std::vector<double>& x, double sigma, std::uint64_t seed) {
  const std::vector<cd> xc(x.begin(), x.end());
  Tensor image = test::upload(xc, {1, 1, kSize, kSize}), y = a.make_output(1, ctx.device());
  a.apply(ctx, image, y);
  std::vector<cd> v = test::download_complex(y);
  const std::vector<double> noise = test::uniform(2 * v.size(), seed);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] += sigma * std::sqrt(3.0) * cd(noise[2 * i], noise[2 * i + 1]);  // uniform, same variance
  return test::upload(v, y.shape());
}

// CG-SENSE: (A^H A + lambda I) x = A^H y, then x against the phantom: |x| for a complex image (the
// maps may carry a per-pixel phase that the image takes on), x itself for a real one.
double sense_psnr(Context& ctx, const Operator& a, const Tensor& y, const std::vector<double>& truth) {
  Tensor b = a.make_input(1, ctx.device()), x = a.make_input(1, ctx.device());
  a.adjoint(ctx, y, b);
  auto real_view = [](const Tensor& t) { return t.dtype() == DType::c64 ? t.view_as_real() : t; };
  LinearMap normal = [&](Context& c, const Tensor& v, Tensor& out) {
    a.normal(c, v, out);
    Tensor o = real_view(out);
    axpby(c, 1e-3f, real_view(v), 1.0f, o);
  };
  conjugate_gradient(ctx, normal, b, x, KrylovOptions{40, 1e-7});
  std::vector<double> values;
  if (x.dtype() == DType::c64)
    for (const cd& v : test::download_complex(x)) values.push_back(std::abs(v));
  else
    values = test::download(x);
  return psnr(values, truth, 1.0);
}

}  // namespace

TEST_CASE("ESPIRiT from the fully sampled centre of Cartesian k-space recovers smooth 8-coil maps, and SENSE with them matches the true maps") {
  Context& ctx = test::context();
  const std::vector<double> x = test::phantom(kSize);
  const std::vector<cd> s = test::smooth_maps(kCoils, kSize);
  const Tensor maps = test::upload(s, {kCoils, kSize, kSize});
  const Signal image{{1, kSize, kSize}, DType::c64};
  const Tensor mask = mask_random_columns(kSize, kSize, 3, 24, 7);
  auto truth_op = make_mri(image, mask, maps, "mri:true", test::device());
  const Tensor y = simulate(ctx, *truth_op, x, 1e-3, 11);

  const Calibration region = cartesian_calibration(y.reshape({kCoils, kSize, kSize}), Tensor(), 24, 6);
  CHECK(region.rows == 24);
  CHECK(region.columns == 24);
  EspiritOptions options;
  options.crop = 0;
  const EspiritMaps est = espirit(ctx, region, kSize, kSize, options);
  const test::MapError err = test::map_error(est.maps, s, x, kCoils);
  MESSAGE("Cartesian ESPIRiT: ", est.kernels, " of ", est.singular_values.size(), " kernels, map error rms ", err.rms, " worst ", err.worst);
  CHECK(est.kernels > 8);
  CHECK(est.kernels < 200);
  CHECK(err.rms < 0.02);
  CHECK(err.worst < 0.06);
  // The coils explain the data: W(x)'s top eigenvalue is 1 on the object (not above: P is a projector).
  // Near the field of view's edges it falls, since ESPIRiT's convolution wraps around and the maps do not.
  const std::vector<double> lambda = test::download(est.eigenvalues);
  double lowest_on_object = 1;
  for (std::size_t p = 0; p < x.size(); ++p)
    if (x[p] != 0) lowest_on_object = std::min(lowest_on_object, lambda[p]);
  MESSAGE("top eigenvalue: lowest ", *std::min_element(lambda.begin(), lambda.end()), ", lowest on the object ", lowest_on_object);
  CHECK(lowest_on_object > 0.99);
  CHECK(*std::max_element(lambda.begin(), lambda.end()) < 1.0 + 1e-4);
  // Coil 0 carries the reference phase: real and non-negative.
  const std::vector<cd> e = test::download_complex(est.maps);
  CHECK(std::all_of(e.begin(), e.begin() + kSize * kSize, [](cd v) { return v.real() >= 0 && std::abs(v.imag()) < 1e-6; }));

  auto est_op = make_mri(image, mask, est.maps, "mri:espirit", test::device());
  const double with_truth = sense_psnr(ctx, *truth_op, y, x), with_estimate = sense_psnr(ctx, *est_op, y, x);
  MESSAGE("CG-SENSE PSNR, R=3 columns: true maps ", with_truth, " dB, ESPIRiT maps ", with_estimate, " dB");
  CHECK(with_truth > 24);
  CHECK(with_estimate > with_truth - 0.5);

  // With the image's phase, a real non-negative object stays real: the maps are the true ones themselves
  // on the object (not only up to phase), and a real-valued reconstruction (x f32) works with them.
  options.phase = EspiritPhase::image;
  const EspiritMaps aligned = espirit(ctx, region, kSize, kSize, options);
  const std::vector<cd> a = test::download_complex(aligned.maps);
  double rms = 0, count = 0;
  for (std::int64_t p = 0; p < kSize * kSize; ++p) {
    if (x[std::size_t(p)] == 0) continue;
    double d2 = 0;
    for (std::int64_t c = 0; c < kCoils; ++c) d2 += std::norm(a[std::size_t(c * kSize * kSize + p)] - s[std::size_t(c * kSize * kSize + p)]);
    rms += d2, count += 1;
  }
  rms = std::sqrt(rms / count);
  const Signal real{{1, kSize, kSize}, DType::f32};
  auto real_truth = make_mri(real, mask, maps, "mri:true", test::device()), real_est = make_mri(real, mask, aligned.maps, "mri:espirit", test::device());
  const double real_with_truth = sense_psnr(ctx, *real_truth, y, x), real_with_estimate = sense_psnr(ctx, *real_est, y, x);
  MESSAGE("image-phase maps: distance to the true maps (no phase freedom) rms ", rms, "; real-valued CG-SENSE ", real_with_estimate,
          " dB against ", real_with_truth, " with the true maps");
  CHECK(rms < 0.01);
  CHECK(real_with_estimate > real_with_truth - 0.5);
  options.phase = EspiritPhase::coil0;

  // Cropping zeroes the maps wherever the eigenvalue falls short, and nowhere else.
  options.crop = 0.999;
  const EspiritMaps cropped = espirit(ctx, region, kSize, kSize, options);
  const std::vector<cd> c = test::download_complex(cropped.maps);
  std::int64_t zeros = 0, low = 0;
  for (std::int64_t p = 0; p < kSize * kSize; ++p) {
    low += lambda[std::size_t(p)] < 0.999;
    zeros += c[std::size_t(p)] == cd(0) && c[std::size_t(kSize * kSize + p)] == cd(0);
  }
  CHECK(zeros == low);
}

TEST_CASE("ESPIRiT from the centre of radial k-space (least-squares gridding of the centre) recovers the maps") {
  Context& ctx = test::context();
  const std::vector<double> x = test::phantom(kSize);
  const std::vector<cd> s = test::smooth_maps(kCoils, kSize);
  const Tensor maps = test::upload(s, {kCoils, kSize, kSize});
  const Signal image{{1, kSize, kSize}, DType::c64};
  const std::vector<double> traj = radial_trajectory(kSize, kSize, 26, 2 * kSize, true);  // R = 4 against pi N / 2
  const NufftOptions nufft{1e-5, 2.0};
  auto truth_op = make_nufft_mri(image, traj, maps, nufft, "radial:true", test::device());
  const Tensor y = simulate(ctx, *truth_op, x, 1e-3, 12);

  const Calibration region = nufft_calibration(ctx, y.reshape({kCoils, y.dim(2)}), traj, 20, nufft);
  EspiritOptions options;
  options.crop = 0;
  const EspiritMaps est = espirit(ctx, region, kSize, kSize, options);
  const test::MapError err = test::map_error(est.maps, s, x, kCoils);
  MESSAGE("radial ESPIRiT (26 spokes, 20 x 20 centre): ", est.kernels, " kernels, map error rms ", err.rms, " worst ", err.worst);
  CHECK(err.rms < 0.05);
  CHECK(err.worst < 0.15);

  auto est_op = make_nufft_mri(image, traj, est.maps, nufft, "radial:espirit", test::device());
  const double with_truth = sense_psnr(ctx, *truth_op, y, x), with_estimate = sense_psnr(ctx, *est_op, y, x);
  MESSAGE("radial R=4 CG-SENSE PSNR: true maps ", with_truth, " dB, ESPIRiT maps ", with_estimate, " dB");
  CHECK(with_estimate > with_truth - 0.5);

  CHECK_THROWS_WITH_AS(nufft_calibration(ctx, y.reshape({kCoils, y.dim(2)}), traj, 60, nufft),
                       doctest::Contains("fewer than its 3600 grid points; take a smaller calibration region"), ArgumentError);
}

TEST_CASE("the calibration region is the largest fully sampled centre; too little of it is an error that says so") {
  const std::int64_t n = 32;
  std::vector<cd> y(static_cast<std::size_t>(2 * n * n), cd(1, 0));
  const Tensor kspace = test::upload(y, {2, n, n});
  // 10 sampled centre columns: the region is 10 wide and as tall as asked.
  std::vector<double> m(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = n / 2 - 5; c < n / 2 + 5; ++c) m[std::size_t(r * n + c)] = 1;
  const Tensor mask = test::upload(m, {n, n}).to_host();
  const Calibration region = cartesian_calibration(kspace, mask, 16, 6);
  CHECK(region.rows == 16);
  CHECK(region.columns == 10);
  CHECK(region.data.shape() == Shape{2, 16, 10});
  CHECK_THROWS_WITH_AS(cartesian_calibration(kspace, mask, 16, 12), doctest::Contains("fully sampled over 16 x 10 entries only"), ArgumentError);
  // Without a mask, zeros mark what was not sampled.
  for (std::int64_t c = 0; c < 2; ++c)
    for (std::int64_t p = 0; p < n * n; ++p)
      if (m[std::size_t(p)] == 0) y[std::size_t(c * n * n + p)] = 0;
  CHECK(cartesian_calibration(test::upload(y, {2, n, n}), Tensor(), 16, 6).columns == 10);
}

TEST_CASE("root-sum-of-squares of coil images with normalised maps is the image's modulus") {
  const std::int64_t n = 16, k = 4;
  const std::vector<cd> s = test::smooth_maps(k, n);
  const std::vector<double> x = test::uniform(std::size_t(n * n), 3);
  std::vector<cd> images(s.size());
  for (std::int64_t c = 0; c < k; ++c)
    for (std::int64_t p = 0; p < n * n; ++p) images[std::size_t(c * n * n + p)] = s[std::size_t(c * n * n + p)] * x[std::size_t(p)];
  const std::vector<double> rss = test::download(root_sum_of_squares(test::upload(images, {k, n, n})));
  double worst = 0;
  for (std::int64_t p = 0; p < n * n; ++p) worst = std::max(worst, std::abs(rss[std::size_t(p)] - std::abs(x[std::size_t(p)])));
  CHECK(worst < 1e-6);
}

TEST_CASE("coil compression keeps data of coil rank V exactly, with orthonormal rows and the energy it reports") {
  const std::int64_t k = 8, v = 3, samples = 500;
  // 8 coils that are combinations of 3 sources: rank 3.
  const std::vector<cd> mix = test::complex_uniform(std::size_t(k * v), 21), sources = test::complex_uniform(std::size_t(v * samples), 22);
  std::vector<cd> y(static_cast<std::size_t>(k * samples));
  double energy = 0;
  for (std::int64_t c = 0; c < k; ++c)
    for (std::int64_t m = 0; m < samples; ++m) {
      cd sum = 0;
      for (std::int64_t j = 0; j < v; ++j) sum += mix[std::size_t(c * v + j)] * sources[std::size_t(j * samples + m)];
      y[std::size_t(c * samples + m)] = sum;
      energy += std::norm(sum);
    }
  const Tensor data = test::upload(y, {k, 20, 25});
  const CoilCompression cc = coil_compression(data, v);
  CHECK(cc.matrix.shape() == Shape{v, k});
  CHECK(cc.kept_energy > 1 - 1e-6);
  CHECK(cc.singular_values[3] < 1e-3 * cc.singular_values[0]);
  const std::vector<cd> u = test::download_complex(cc.matrix);
  for (std::int64_t a = 0; a < v; ++a)
    for (std::int64_t b = 0; b < v; ++b) {
      cd dot = 0;
      for (std::int64_t c = 0; c < k; ++c) dot += u[std::size_t(a * k + c)] * std::conj(u[std::size_t(b * k + c)]);
      CHECK(std::abs(dot - (a == b ? 1.0 : 0.0)) < 1e-5);
    }
  // The compressed data keep all the energy, and U^H (U y) gives y back.
  const Tensor z = compress_coils(data, cc);
  CHECK(z.shape() == Shape{v, 20, 25});
  const std::vector<cd> zc = test::download_complex(z);
  double kept = 0, err = 0;
  for (const cd& e : zc) kept += std::norm(e);
  CHECK(kept == doctest::Approx(energy).epsilon(1e-5));
  for (std::int64_t c = 0; c < k; ++c)
    for (std::int64_t m = 0; m < samples; ++m) {
      cd back = 0;
      for (std::int64_t j = 0; j < v; ++j) back += std::conj(u[std::size_t(j * k + c)]) * zc[std::size_t(j * samples + m)];
      err = std::max(err, std::abs(back - y[std::size_t(c * samples + m)]));
    }
  CHECK(err < 1e-4);
  // The sum of squared singular values is the data's energy.
  double sum = 0;
  for (double sv : cc.singular_values) sum += sv * sv;
  CHECK(sum == doctest::Approx(energy).epsilon(1e-6));
  CHECK_THROWS_WITH_AS(coil_compression(data, 9), doctest::Contains("choose 1 to 8"), ArgumentError);
}

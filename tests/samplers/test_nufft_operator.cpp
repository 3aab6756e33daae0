// Non-Cartesian MRI: the NUFFT operator against the Cartesian one on integer coordinates, its adjoint,
// the radial and spiral trajectories' geometry, and the mri:traj= specs.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "io/hdf5_file.h"
#include "io/operator_spec.h"
#include "samplers/operator_checks.h"
#include "samplers/operators/fourier_operators.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

bool has(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return true;
  MESSAGE("'", text, "' lacks '", part, "'");
  return false;
}

// Smooth complex coil maps (K, h, w): a Gaussian bump around a point on a circle, with a linear phase.
std::vector<std::complex<double>> bumps(std::int64_t k, std::int64_t h, std::int64_t w) {
  std::vector<std::complex<double>> s;
  for (std::int64_t c = 0; c < k; ++c) {
    const double a = 2 * std::numbers::pi * double(c) / double(k), cy = 0.5 * double(h) * (1 + 0.6 * std::sin(a)), cx = 0.5 * double(w) * (1 + 0.6 * std::cos(a));
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t q = 0; q < w; ++q) {
        const double d2 = (double(r) - cy) * (double(r) - cy) + (double(q) - cx) * (double(q) - cx);
        s.push_back(std::polar(std::exp(-d2 / double(h * w)), 0.1 * double(r + c * q)));
      }
  }
  return s;
}

}  // namespace

TEST_CASE("non-Cartesian MRI on the Cartesian grid's points is Cartesian MRI, single- and multi-coil") {
  Context& ctx = test::context();
  const std::int64_t h = 12, w = 10, k = 3;
  std::vector<double> grid;
  for (std::int64_t r = 0; r < h; ++r)
    for (std::int64_t c = 0; c < w; ++c) grid.push_back(double(r - h / 2)), grid.push_back(double(c - w / 2));
  const Tensor ones = Tensor::from_host(std::span<const float>(std::vector<float>(std::size_t(h * w), 1.0f)), {h, w});
  const Tensor maps = test::upload(bumps(k, h, w), {k, h, w});
  for (bool coils : {false, true})
    for (DType dtype : {DType::f32, DType::c64}) {
      CAPTURE(coils);
      const Signal x{{coils ? 1 : 2, h, w}, dtype};
      auto cart = make_mri(x, ones, coils ? maps : Tensor(), "mri", test::device());
      auto non = make_nufft_mri(x, grid, coils ? maps : Tensor(), NufftOptions{1e-6, 2.0}, "mri:traj", test::device());
      CHECK(non->output().shape == Shape{coils ? k : 2, h * w});
      const Tensor in = test::random_input(*cart, 2, 3);
      Tensor yc = cart->make_output(2, test::device()), yn = non->make_output(2, test::device());
      cart->apply(ctx, in, yc);
      non->apply(ctx, in, yn);
      CHECK(test::max_relative_error(test::download_complex(yn), test::download_complex(yc), 1e-2) < 1e-5);
      for (std::int64_t batch : {1, 3}) CHECK(test::adjoint_mismatch(ctx, *non, batch, 40 + std::uint64_t(batch)) < 1e-5);
    }
}

TEST_CASE("non-Cartesian MRI's normal operator (Toeplitz embedding) is A^H A, single- and multi-coil, real and complex") {
  Context& ctx = test::context();
  const std::int64_t h = 16, w = 12, k = 3;
  const std::vector<double> traj = radial_trajectory(h, w, 9, 24, true);
  const Tensor maps = test::upload(bumps(k, h, w), {k, h, w});
  for (bool coils : {false, true})
    for (DType dtype : {DType::f32, DType::c64}) {
      CAPTURE(coils);
      const Signal x{{coils ? 1 : 2, h, w}, dtype};
      auto op = make_nufft_mri(x, traj, coils ? maps : Tensor(), NufftOptions{1e-6, 2.0}, "mri:traj", test::device());
      const Tensor in = test::random_input(*op, 2, 8);
      Tensor y = op->make_output(2, test::device()), want = op->make_input(2, test::device()), got = op->make_input(2, test::device());
      op->apply(ctx, in, y);
      op->adjoint(ctx, y, want);
      op->normal(ctx, in, got);
      const double e = dtype == DType::c64 ? test::max_relative_error(test::download_complex(got), test::download_complex(want), 1e-2)
                                           : test::max_relative_error(test::download(got), test::download(want), 1e-2);
      MESSAGE("normal vs adjoint(apply): ", e);
      CHECK(e < 1e-5);
    }
}

TEST_CASE("radial and spiral trajectories: spokes through the centre at golden-angle steps, arms out to the band's edge") {
  const std::int64_t n = 32;
  const std::vector<double> radial = radial_trajectory(n, n, 5, 64, true);
  REQUIRE(radial.size() == 2 * 5 * 64);
  const double golden = std::numbers::pi * (std::sqrt(5.0) - 1) / 2;
  for (std::int64_t s = 0; s < 5; ++s) {
    // The sample at r = 0 is the spoke's far end (-1/2 of the band) along its angle; r = 32 the centre.
    const double ky = radial[std::size_t(2 * (s * 64))], kx = radial[std::size_t(2 * (s * 64) + 1)];
    CHECK(std::hypot(ky, kx) == doctest::Approx(16));
    CHECK(std::atan2(-ky, -kx) == doctest::Approx(std::remainder(double(s) * golden, 2 * std::numbers::pi)).epsilon(1e-9));
    CHECK(radial[std::size_t(2 * (s * 64 + 32))] == 0.0);
  }
  const std::vector<double> uniform = radial_trajectory(n, n, 4, 8, false);
  CHECK(std::atan2(uniform[2 * 8 * 2], uniform[2 * 8 * 2 + 1]) == doctest::Approx(std::atan2(-std::sin(std::numbers::pi / 2), -std::cos(std::numbers::pi / 2))));
  const std::vector<double> spiral = spiral_trajectory(n, n, 2, 100, 3);
  double largest = 0;
  for (std::size_t j = 0; j < spiral.size(); j += 2) largest = std::max(largest, std::hypot(spiral[j], spiral[j + 1]));
  CHECK(largest < 16);
  CHECK(largest > 15.5);
  CHECK(spiral[0] == 0.0);
  CHECK_THROWS_AS(radial_trajectory(n, n, 0, 8, true), ArgumentError);
  CHECK_THROWS_AS(spiral_trajectory(n, n, 1, 100, 0), ArgumentError);
}

TEST_CASE("mri:traj= specs: radial and spiral from R= or counts, from a file, canonical specs that rebuild, errors by name") {
  Context& ctx = test::context();
  const Signal image{{1, 16, 16}, DType::f32};
  auto built = [&](const std::string& spec) { return build_operator(spec, image, test::device()).op; };
  // pi 16 / 2 = 25.1 spokes for full sampling: R=4 gives 7; readout 2 N by default.
  CHECK(built("mri:traj=radial:R=4")->describe() == "mri:traj=radial:spokes=7:readout=32:order=golden:tol=1e-06:oversampling=2");
  CHECK(built("mri:traj=radial:R=4")->output().shape == Shape{1, 7 * 32});
  CHECK(built("mri:traj=radial:spokes=3:readout=8:order=uniform:tol=1e-3")->describe() ==
        "mri:traj=radial:spokes=3:readout=8:order=uniform:tol=0.001:oversampling=2");
  CHECK(built("mri:traj=spiral:R=2")->describe() == "mri:traj=spiral:interleaves=4:samples=51:turns=1:tol=1e-06:oversampling=2");
  for (const char* spec : {"mri:traj=radial:R=4", "mri:traj=spiral:interleaves=2:samples=40:turns=2:tol=1e-4:oversampling=1.25"}) {
    auto a = built(spec), b = built(a->describe());
    CHECK(b->describe() == a->describe());
    const Tensor in = test::random_input(*a, 2, 5);
    Tensor ya = a->make_output(2, test::device()), yb = b->make_output(2, test::device());
    a->apply(ctx, in, ya);
    b->apply(ctx, in, yb);
    CHECK(test::download_complex(ya) == test::download_complex(yb));
  }
  test::TempDir dir;
  {
    H5File f = H5File::create(dir.file("traj.h5"));
    const std::vector<double> k = radial_trajectory(16, 16, 4, 20, true);
    f.write("traj", test::upload(std::vector<double>(k.begin(), k.end()), {4, 20, 2}).to_host());
    f.write("bad", test::upload(std::vector<double>(k.begin(), k.begin() + 80), {4, 20}).to_host());
    std::vector<double> far = k;
    far[11] = 9;
    f.write("far", test::upload(far, {4, 20, 2}).to_host());
    f.commit();
  }
  auto from_file = built("mri:traj=" + dir.file("traj.h5") + "#traj");
  CHECK(from_file->output().shape == Shape{1, 80});
  auto same = built("mri:traj=radial:spokes=4:readout=20");
  const Tensor in = test::random_input(*same, 1, 6);
  Tensor y1 = same->make_output(1, test::device()), y2 = from_file->make_output(1, test::device());
  same->apply(ctx, in, y1);
  from_file->apply(ctx, in, y2);
  CHECK(test::max_relative_error(test::download_complex(y2), test::download_complex(y1), 1e-2) < 1e-5);  // f32 coordinates in the file

  auto error_of = [&](const std::string& spec) {
    try {
      built(spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(has(error_of("mri:traj=radial"), "give spokes= or R= (the acceleration against 26 for full sampling)"));
  CHECK(has(error_of("mri:traj=radial:R=0.5"), "R=0.5 must be at least 1"));
  CHECK(has(error_of("mri:traj=radial:R=2:tol=1e-5:oversampling=1.25"), "needs oversampling 2"));
  CHECK(has(error_of("mri:traj=" + dir.file("traj.h5") + "#bad"), "a trajectory is (..., 2)"));
  CHECK(has(error_of("mri:traj=" + dir.file("traj.h5") + "#far"), "point 5 has k_x = 9, outside [-8, 8]"));
  CHECK(has(error_of("mri:traj=radial:R=2:pattern=random"), "unknown field 'pattern'"));
}

TEST_CASE("mri: specs on volumes (C, D, H, W): variable-density masks over (D, H) with full readout lines, masks from files, refusals") {
  const Signal volume{{1, 12, 16, 10}, DType::c64};
  auto op = build_operator("mri:R=4", volume, test::device()).op;
  CHECK(op->describe() == "mri:R=4:pattern=poisson:centre=1:seed=0");
  CHECK(op->output().shape == Shape{1, 12, 16, 10});
  const std::vector<float> seen = op->observed().to_host().to_vector<float>();
  double sampled = 0;
  bool lines = true;
  for (std::size_t line = 0; line < seen.size() / 10; ++line) {
    for (std::size_t c = 1; c < 10; ++c) lines = lines && seen[line * 10 + c] == seen[line * 10];
    sampled += seen[line * 10];
  }
  CHECK(lines);  // every (D, H) point is a whole readout line along W
  MESSAGE("mri:R=4 on a 12 x 16 phase-encoding plane: ", sampled, " of 192 lines");
  CHECK(sampled / 192 == doctest::Approx(0.25).epsilon(0.15));
  CHECK(build_operator("mri:R=3:pattern=gaussian:centre=4:seed=2", volume, test::device()).op->describe() ==
        "mri:R=3:pattern=gaussian:centre=4:seed=2");
  test::TempDir dir;
  {
    H5File f = H5File::create(dir.file("m.h5"));
    f.write("plane", test::upload(test::uniform(12 * 16, 3, 0, 1), {12, 16}).to_host());
    f.write("bad", test::upload(test::uniform(16 * 10, 3, 0, 1), {16, 10}).to_host());
    f.commit();
  }
  CHECK(build_operator("mri:mask=" + dir.file("m.h5") + "#plane", volume, test::device()).op->output().shape == Shape{1, 12, 16, 10});
  auto error_of = [&](const std::string& spec) {
    try {
      build_operator(spec, volume, test::device());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(has(error_of("mri:mask=" + dir.file("m.h5") + "#bad"), "a k-space mask is (D, H, W), or (D, H) of readout lines"));
  CHECK(has(error_of("mri:R=4:pattern=random"), "is not one of poisson, gaussian"));
  CHECK(has(error_of("mri:traj=radial:R=2"), "3-D trajectories are not built"));
  CHECK(has(error_of("nufft:traj=radial:R=2"), "3-D trajectories are not built"));
}

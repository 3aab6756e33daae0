// `tweedie coils` end to end: ESPIRiT maps from simulated Cartesian and radial 8-coil k-space written
// by `tweedie simulate`, against the maps that made the data; coil compression; refusals.
#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "samplers/coil_phantom.h"
#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;

namespace {

constexpr std::int64_t kCoils = 8, kSize = 32;

// x.h5 (1, 1, n, n) with the phantom and maps.h5 with the smooth maps; returns both.
std::pair<std::vector<double>, std::vector<cd>> write_scene(const TempDir& dir) {
  const std::vector<double> x = phantom(kSize);
  const std::vector<cd> s = smooth_maps(kCoils, kSize);
  H5File f = H5File::create(dir.file("x.h5"));
  f.write("x", upload(x, {1, 1, kSize, kSize}).to_host());
  f.commit();
  H5File m = H5File::create(dir.file("maps.h5"));
  m.write("maps", upload(s, {kCoils, kSize, kSize}).to_host());
  m.commit();
  return {as_float(x), s};
}

nlohmann::json last_json(const std::string& out) { return nlohmann::json::parse(out.substr(out.rfind("\n{") + 1)); }

}  // namespace

TEST_CASE("tweedie coils estimates the maps of Cartesian and radial 8-coil k-space, with coil compression and clean refusals") {
  TempDir dir;
  const auto [x, truth] = write_scene(dir);
  const std::string maps = dir.file("maps.h5") + "#maps";

  Run sim = run("simulate --operator mri:R=3:centre=16:coils=" + maps + " --noise gaussian:sigma=0.001 --x " + dir.file("x.h5") + " -o " + dir.file("y.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  Run coils = run("coils --kspace " + dir.file("y.h5") + " --calibration 24 --crop 0 --png " + dir.file("rss.png") + " -o " + dir.file("s.h5"));
  REQUIRE_MESSAGE(coils.status == 0, coils.out);
  nlohmann::json report = last_json(coils.out);
  CHECK(report["calibration"] == nlohmann::json::array({24, 16}));  // rows as asked; the 16 fully sampled columns
  CHECK(report["sampling"] == "cartesian");
  H5File s = H5File::open(dir.file("s.h5"));
  CHECK(s.shape("maps") == Shape{kCoils, kSize, kSize});
  CHECK(s.shape("eigenvalues") == Shape{kSize, kSize});
  CHECK(s.shape("rss") == Shape{kSize, kSize});
  CHECK(std::filesystem::exists(dir.file("rss.png")));
  const MapError cartesian = map_error(s.read("maps"), truth, x, kCoils);
  MESSAGE("tweedie coils, Cartesian R=3 (16 centre columns), 32 x 32: map error rms ", cartesian.rms, " worst ", cartesian.worst);
  CHECK(cartesian.rms < 0.03);
  CHECK(s.string_attribute("maps", "phase") == "image");

  // --observation: the same data with the estimated maps, solved as a real image (the image phase keeps
  // the non-negative phantom real) as well as with the true maps.
  coils = run("coils --kspace " + dir.file("y.h5") + " --calibration 24 -o " + dir.file("s2.h5") + " --observation " + dir.file("ye.h5"));
  REQUIRE_MESSAGE(coils.status == 0, coils.out);
  double psnr[2];
  for (int i = 0; i < 2; ++i) {
    Run cg = run("solve --method map-tikhonov --lambda 0.001 --iterations 60 --y " + dir.file(i == 0 ? "y.h5" : "ye.h5") + " --truth " +
                 dir.file("x.h5") + " -o " + dir.file("cg.h5"));
    REQUIRE_MESSAGE(cg.status == 0, cg.out);
    psnr[i] = last_json(cg.out)["psnr"][0].get<double>();
  }
  MESSAGE("CG-SENSE of the f32 phantom: true maps ", psnr[0], " dB, ESPIRiT maps (tweedie coils --observation) ", psnr[1], " dB");
  CHECK(psnr[1] > psnr[0] - 1.0);

  // Radial, spelt nufft:, compressed to 4 virtual coils before calibrating.
  sim = run("simulate --operator nufft:traj=radial:R=2:coils=" + maps + " --noise gaussian:sigma=0.001 --x " + dir.file("x.h5") + " -o " + dir.file("yr.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  coils = run("coils --kspace " + dir.file("yr.h5") + " --calibration 12 --crop 0 --compress 4 -o " + dir.file("sr.h5"));
  REQUIRE_MESSAGE(coils.status == 0, coils.out);
  report = last_json(coils.out);
  CHECK(report["sampling"] == "non-cartesian");
  CHECK(report["compression"]["kept_energy"].get<double>() > 0.99);
  H5File sr = H5File::open(dir.file("sr.h5"));
  CHECK(sr.shape("maps") == Shape{4, kSize, kSize});
  CHECK(sr.shape("compression") == Shape{4, kCoils});
  const std::int64_t points = H5File::open(dir.file("yr.h5")).shape("y")[2];
  CHECK(sr.shape("y") == Shape{1, 4, points});
  // Compressed maps are the compression of the true maps, normalised: compare against U S.
  const std::vector<cd> u = download_complex(sr.read("compression"));
  std::vector<cd> compressed(static_cast<std::size_t>(4 * kSize * kSize));
  for (std::int64_t v = 0; v < 4; ++v)
    for (std::int64_t k = 0; k < kCoils; ++k)
      for (std::int64_t p = 0; p < kSize * kSize; ++p)
        compressed[std::size_t(v * kSize * kSize + p)] += u[std::size_t(v * kCoils + k)] * truth[std::size_t(k * kSize * kSize + p)];
  for (std::int64_t p = 0; p < kSize * kSize; ++p) {
    double e = 0;
    for (std::int64_t v = 0; v < 4; ++v) e += std::norm(compressed[std::size_t(v * kSize * kSize + p)]);
    for (std::int64_t v = 0; v < 4; ++v) compressed[std::size_t(v * kSize * kSize + p)] /= std::sqrt(e);
  }
  const MapError radial = map_error(sr.read("maps"), compressed, x, 4);
  MESSAGE("tweedie coils, radial R=2 compressed to 4 coils: map error rms ", radial.rms, " worst ", radial.worst);
  CHECK(radial.rms < 0.05);

  check_refused("coils --kspace " + dir.file("yr.h5") + " --calibration 40", dir.file("bad.h5"), "the 40 x 40 calibration region is larger than the 32 x 32 image");
  check_refused("coils --kspace " + dir.file("y.h5") + " --kernel 20", dir.file("bad.h5"), "fully sampled over 24 x 16 entries only");
  check_refused("coils --kspace " + dir.file("y.h5") + " --compress 9", dir.file("bad.h5"), "choose 1 to 8");
  // When the observation cannot be written, the maps it would name do not stay either.
  check_refused("coils --kspace " + dir.file("y.h5") + " --observation " + dir.file("no/such/folder/ye.h5"), dir.file("bad.h5"),
                "no/such/folder/ye.h5");
  sim = run("simulate --operator inpaint:p=0.5 --x " + dir.file("x.h5") + " -o " + dir.file("yi.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  check_refused("coils --kspace " + dir.file("yi.h5"), dir.file("bad.h5"), "multi-coil k-space is (N, K, ...) c64");
}

TEST_CASE("tweedie phantoms --coils K --unit writes [0, 1] phantoms and unit-norm synthetic coil maps") {
  TempDir dir;
  Run r = run("phantoms --count 2 --size 16 --seed 7 --unit --coils 3 -o " + dir.file("p.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  H5File f = H5File::open(dir.file("p.h5"));
  const std::vector<double> x = download(f.read("x"));
  CHECK(*std::min_element(x.begin(), x.end()) >= 0.0);
  CHECK(*std::max_element(x.begin(), x.end()) <= 1.0);
  CHECK(*std::min_element(x.begin(), x.end()) == 0.0);  // the background, -1 before rescaling
  CHECK(f.shape("maps") == Shape{3, 16, 16});
  const std::vector<cd> s = download_complex(f.read("maps"));
  double worst = 0;
  for (std::int64_t p = 0; p < 256; ++p) {
    double e = 0;
    for (std::int64_t c = 0; c < 3; ++c) e += std::norm(s[std::size_t(c * 256 + p)]);
    worst = std::max(worst, std::abs(e - 1));
  }
  CHECK(worst < 1e-5);
  Run refused = run("phantoms --count 2 --size 16 --coils 3 --fit-prior " + dir.file("prior.h5"));
  CHECK(refused.status != 0);
  CHECK(contains(refused.out, "--coils writes maps beside the phantoms: give -o PHANTOMS.h5"));
  CHECK(!std::filesystem::exists(dir.file("prior.h5")));
}

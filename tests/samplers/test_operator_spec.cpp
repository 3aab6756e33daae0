// Operators and noise models from spec strings (io/operator_spec.h): canonical specs rebuild the same
// operator, JSON and HDF5 descriptions mean the same as the short form, and every mistake is named.
#include <doctest/doctest.h>

#include <fstream>

#include "io/hdf5_file.h"
#include "io/operator_spec.h"
#include "samplers/operator_checks.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::test;
using samplers::Signal;

namespace {

bool contains_text(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return true;
  std::string note = "'" + text + "' lacks '" + part + "'";
  MESSAGE(note);
  return false;
}

// A spec's operator and the one its canonical spec builds give the same output on the same batch.
void check_round_trip(const std::string& spec, const Signal& x) {
  CAPTURE(spec);
  Context& ctx = context();
  BuiltOperator a = build_operator(spec, x, device(), {"--operator", 11, ""});
  std::string canonical = a.op->describe();
  CAPTURE(canonical);
  BuiltOperator b = build_operator(canonical, x, device());
  CHECK(b.op->describe() == canonical);
  Tensor in = random_input(*a.op, 2, 5);
  Tensor ya = a.op->make_output(2, device()), yb = b.op->make_output(2, device());
  a.op->apply(ctx, in, ya);
  b.op->apply(ctx, in, yb);
  CHECK(real_dot(ya, ya) > 0);
  if (ya.dtype() == DType::c64) CHECK(download_complex(ya) == download_complex(yb));
  else CHECK(download(ya) == download(yb));
}

std::string error_of(const std::string& spec, const Signal& x) {
  try {
    build_operator(spec, x, device());
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string noise_error_of(const std::string& spec, const Signal& y) {
  try {
    build_noise(spec, y, device());
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void write(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& datasets) {
  H5File f = H5File::create(path);
  for (const auto& [name, t] : datasets) f.write(name, t);
  f.commit();
}

}  // namespace

TEST_CASE("canonical operator specs rebuild the same operator") {
  Signal image{{3, 16, 16}, DType::f32}, mono{{1, 16, 16}, DType::f32};
  for (const char* spec : {"identity", "inpaint:p=0.3:seed=4", "inpaint:p=0.3:channels=each", "inpaint:box=2,3,5,6", "sr:2", "sr:4:avg",
                           "sr:factor=2:method=bicubic", "blur:gauss:5:1.5", "blur:gauss:5:1.5:reflect", "blur:motion:7:0.5:seed=2",
                           "phase:pad=4", "blur:gauss:5:1|sr:2", "inpaint:p=0.5|sr:2:avg|blur:gauss:3:1"})
    check_round_trip(spec, image);
  for (const char* spec : {"mri:R=4", "mri:R=4:pattern=equispaced:centre=4", "mri:R=4:pattern=poisson:seed=3", "mri:R=2:pattern=gaussian"})
    check_round_trip(spec, mono);
  // Defaults are spelt out, the seed of the options fills a missing seed=.
  CHECK(build_operator("inpaint:p=0.25", image, device(), {"--operator", 9, ""}).op->describe() == "inpaint:p=0.25:channels=shared:seed=9");
  CHECK(build_operator("sr:4", image, device()).op->describe() == "sr:4:bicubic");
  CHECK(build_operator("blur:gauss:9:2", image, device()).op->describe() == "blur:gauss:9:2:boundary=circular");
}

TEST_CASE("JSON descriptions mean what the short specs mean") {
  Signal image{{1, 16, 16}, DType::f32};
  CHECK(build_operator(R"({"kind": "sr", "args": [4], "method": "avg"})", image, device()).op->describe() == "sr:4:avg");
  CHECK(build_operator(R"([{"kind": "blur", "args": ["gauss", 5, 1]}, {"kind": "sr", "factor": 2}])", image, device()).op->describe() ==
        build_operator("blur:gauss:5:1|sr:2", image, device()).op->describe());
  TempDir dir;
  {
    std::ofstream(dir.file("op.json")) << R"({"kind": "mri", "R": 4, "pattern": "equispaced", "centre": 2})";
  }
  CHECK(build_operator(dir.file("op.json"), image, device()).op->describe() == "mri:R=4:pattern=equispaced:centre=2");
  CHECK(contains_text(error_of("{\"kind\": ", image), "not valid JSON"));
  CHECK(contains_text(error_of(R"({"R": 4})", image), "\"kind\""));
}

TEST_CASE("specs read masks, kernels, matrices and coil maps from HDF5 files, by dataset name or alone in the file") {
  TempDir dir;
  Signal image{{1, 6, 8}, DType::f32};
  std::vector<float> cols(8, 0.0f);
  cols[3] = cols[4] = 1;
  std::vector<complex64> maps(2 * 6 * 8, complex64{0.5f, 0.5f});
  write(dir.file("mask.h5"), {{"mask", Tensor::from_host(std::span<const float>(cols), {8})},
                              {"maps", Tensor::from_host(std::span<const complex64>(maps), {2, 6, 8})}});
  BuiltOperator mri = build_operator("mri:mask=" + dir.file("mask.h5") + ":coils=" + dir.file("mask.h5") + "#maps", image, device());
  CHECK(mri.op->output().shape == Shape{2, 6, 8});
  CHECK(mri.op->describe() == "mri:mask=" + dir.file("mask.h5") + "#mask:coils=" + dir.file("mask.h5") + "#maps");
  REQUIRE(mri.data.size() == 2);
  CHECK(mri.data[0].field == "coils");
  CHECK(mri.data[1].field == "mask");
  // A column mask (W) covers every row.
  std::vector<double> seen = download(mri.op->observed());
  for (std::int64_t c = 0; c < 2; ++c)
    for (std::int64_t r = 0; r < 6; ++r)
      for (std::int64_t k = 0; k < 8; ++k) CHECK(seen[std::size_t((c * 6 + r) * 8 + k)] == (k == 3 || k == 4 ? 1 : 0));

  // Two datasets and no name: the error lists them.
  CHECK(contains_text(error_of("matrix:a=" + dir.file("mask.h5"), image), "has no dataset 'A'; name one as FILE#DATASET (it has: maps, mask)"));
  CHECK(contains_text(error_of("matrix:a=" + dir.file("mask.h5") + "#nothing", image), "has no dataset 'nothing'"));
  CHECK(contains_text(error_of("inpaint:mask=#mask", image), "names a dataset of no file"));

  // An HDF5 file whose root attribute holds the spec resolves #DATASET inside itself.
  {
    H5File f = H5File::create(dir.file("obs.h5"));
    f.write("operator/mask", Tensor::from_host(std::span<const float>(cols), {8}));
    f.set_attribute("", "operator", "mri:mask=#operator/mask");
    f.set_attribute("", "noise", "gaussian:sigma=0.5");
    f.commit();
  }
  BuiltOperator again = build_operator(dir.file("obs.h5"), image, device());
  CHECK(download(again.op->observed()) == download(build_operator("mri:mask=" + dir.file("mask.h5"), image, device()).op->observed()));
  CHECK(build_noise(dir.file("obs.h5"), again.op->output(), device()).noise->describe() == "gaussian:sigma=0.5");
}

TEST_CASE("operator spec mistakes are named") {
  Signal image{{3, 16, 16}, DType::f32}, vec{{10}, DType::f32};
  CHECK(contains_text(error_of("", image), "the spec is empty"));
  CHECK(contains_text(error_of("warp:3", image), "unknown operator 'warp' (identity, inpaint, sr, blur, matrix, mri, nufft, phase)"));
  CHECK(contains_text(error_of("sr", image), "missing factor="));
  CHECK(contains_text(error_of("sr:x", image), "factor='x' is not a whole number"));
  CHECK(contains_text(error_of("sr:0", image), "factor=0 must be at least 1"));
  CHECK(contains_text(error_of("sr:2:cubic", image), "unexpected field 'cubic' for sr"));
  CHECK(contains_text(error_of("sr:2:method=cubic", image), "method='cubic' is not one of bicubic, avg"));
  CHECK(contains_text(error_of("inpaint:p=0.5:p=0.4", image), "field 'p' is given twice"));
  CHECK(contains_text(error_of("inpaint:p=0.5:sede=1", image), "unknown field 'sede' for inpaint (it takes: "));
  CHECK(contains_text(error_of("inpaint:p=0", image), "p=0 must be in (0, 1]"));
  CHECK(contains_text(error_of("inpaint:box=1,2,3", image), "box='1,2,3' needs TOP,LEFT,HEIGHT,WIDTH"));
  CHECK(contains_text(error_of("inpaint::p=0.5", image), "field 1 is empty"));
  CHECK(contains_text(error_of("blur:disk:5", image), "unknown blur kernel 'disk'"));
  CHECK(contains_text(error_of("blur:gauss:5:-1", image), "sigma=-1 must be positive"));
  // Found by fuzzing (tools/fuzz): huge kernel sizes used to allocate size^2 (gauss) or 64 size (motion)
  // values before the size was compared with the image.
  CHECK(contains_text(error_of("blur:gauss:999999999:1", image), "size=999999999 is larger than the 16 x 16 images"));
  CHECK(contains_text(error_of("blur:motion:999999999:0.5", image), "size=999999999 is larger than the 16 x 16 images"));
  CHECK(contains_text(error_of("mri:R=0.5", image), "R=0.5 must be at least 1"));
  CHECK(contains_text(error_of("mri:R=4:centre=99", image), "centre=99 does not fit"));
  CHECK(contains_text(error_of("sr:2", vec), "sr acts on images (C, H, W), but x items are (10)"));
  CHECK(contains_text(error_of("mri:mask=/nonexistent/m.h5", image), "file '/nonexistent/m.h5' does not exist"));
  // The flag is named first.
  CHECK(contains_text(error_of("sr:x", image), "--operator 'sr:x': "));
}

TEST_CASE("noise specs: canonical forms and named mistakes") {
  Signal y{{2, 4}, DType::f32};
  Context& ctx = context();
  (void)ctx;
  for (const char* spec : {"gaussian:sigma=0.05", "poisson:scale=20:link=exp", "poisson:scale=2.5:link=softplus", "binomial:n=100:scale=1"}) {
    CAPTURE(spec);
    auto built = build_noise(spec, y, device());
    REQUIRE(built.noise);
    CHECK(built.noise->describe() == spec);
    CHECK(build_noise(built.noise->describe(), y, device()).noise->describe() == spec);
  }
  CHECK(build_noise("gaussian:0.1", y, device()).noise->describe() == "gaussian:sigma=0.1");
  CHECK(build_noise("poisson:20", y, device()).noise->describe() == "poisson:scale=20:link=exp");
  CHECK_FALSE(build_noise("none", y, device()).noise);
  CHECK(contains_text(noise_error_of("laplace:1", y), "unknown noise model 'laplace' (gaussian, poisson, binomial, none)"));
  CHECK(contains_text(noise_error_of("gaussian", y), "missing sigma="));
  CHECK(contains_text(noise_error_of("poisson:scale=2:link=logit", y), "link='logit' is not one of exp, softplus"));
  CHECK(contains_text(noise_error_of("binomial:n=0", y), "n=0 must be at least 1"));
  CHECK(contains_text(noise_error_of("binomial:n=2.5", y), "n='2.5' is not a whole number"));
  CHECK(contains_text(noise_error_of("gaussian:sigma=0.1", y), "(no error)"));
  CHECK(contains_text(noise_error_of("poisson:scale=1", y), "(no error)"));

  TempDir dir;
  std::vector<float> sig(8, 0.2f), wrong(6, 0.2f);
  write(dir.file("s.h5"), {{"sigma", Tensor::from_host(std::span<const float>(sig), {2, 4})},
                           {"other", Tensor::from_host(std::span<const float>(wrong), {6})}});
  CHECK(build_noise("gaussian:sigma=" + dir.file("s.h5"), y, device()).noise->describe() == "gaussian:sigma=" + dir.file("s.h5") + "#sigma");
  CHECK(contains_text(noise_error_of("gaussian:sigma=" + dir.file("s.h5") + "#other", y), "is (6) but one observation is (2,4)"));
  CHECK(contains_text(noise_error_of("gaussian:sigma=0.1", y), "(no error)"));
}

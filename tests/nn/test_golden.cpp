// The U-Net and MLP against PyTorch: tools/golden/make_golden.py builds guided-diffusion-compatible
// models with random weights in an independent PyTorch implementation and stores, beside the model,
// one forward pass, a JVP, a VJP and some parameter gradients (tests/data/*.h5).
#include <algorithm>
#include <cmath>

#include "io/model_file.h"
#include "support.h"

using namespace tweedie;

namespace {

const char* const kGoldenFiles[] = {"adm_legacy_scaleshift_updown", "adm_neworder_plain_classcond", "adm_halfmult_avgpool",
                                    "adm_1d", "mlp_small"};

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

}  // namespace

TEST_CASE("networks match the PyTorch golden files: output, JVP, VJP and parameter gradients") {
  for (std::string name : kGoldenFiles) {
    CAPTURE(name);
    std::string path = std::string(TWEEDIE_TEST_DATA) + "/" + name + ".h5";
    std::unique_ptr<nn::Network> net = load_model(path, test::device());
    H5File file = H5File::open(path);
    Tensor x = file.read("golden/x", test::device());
    nn::Conditioning c;
    c.t = file.read("golden/t").to_vector<float>();
    if (file.has("golden/labels"))
      for (float l : file.read("golden/labels").to_vector<float>()) c.labels.push_back(std::int64_t(l));
    Context& ctx = test::context();

    Tensor y = Tensor::empty(net->output_shape(x.shape()), test::device());
    net->forward(ctx, x, c, y);
    std::vector<double> want_y = test::download(file.read("golden/y"));
    CHECK(test::max_relative_error(test::download(y), want_y) < 1e-4);

    Tensor y2 = Tensor::empty(y.shape(), test::device());
    std::unique_ptr<nn::Linearization> lin = net->linearize(ctx, x, c, y2);
    CHECK(test::download(y2) == test::download(y));  // linearize runs the same forward pass

    Tensor v = file.read("golden/tangent", test::device()), jv = Tensor::empty(y.shape(), test::device());
    net->jvp(ctx, *lin, v, jv);
    CHECK(test::max_relative_error(test::download(jv), test::download(file.read("golden/jvp"))) < 1e-4);

    Tensor u = file.read("golden/cotangent", test::device()), ju = Tensor::empty(x.shape(), test::device());
    net->parameters().zero_gradients(ctx);
    net->vjp(ctx, *lin, u, ju, true);
    CHECK(test::max_relative_error(test::download(ju), test::download(file.read("golden/vjp"))) < 1e-4);

    // Parameter gradients. One stored gradient is zero in exact arithmetic and holds only f32 rounding
    // noise (see tools/golden/README.md), so errors are measured against 1% of the largest gradient in
    // the file as well as against their own size.
    std::vector<std::string> grads;
    for (const std::string& d : file.datasets())
      if (d.rfind("golden/param_grads/", 0) == 0) grads.push_back(d.substr(19));
    REQUIRE(!grads.empty());
    double scale = 0;
    for (const std::string& g : grads) scale = std::max(scale, max_abs(test::download(file.read("golden/param_grads/" + g))));
    for (const std::string& g : grads) {
      CAPTURE(g);
      nn::Parameter* p = net->parameters().find(g);
      REQUIRE(p != nullptr);
      REQUIRE(p->grad.defined());
      std::vector<double> want = test::download(file.read("golden/param_grads/" + g)), got = test::download(p->grad);
      CHECK(test::max_relative_error(got, want, 1e-2 * scale) < 1e-4);
    }
  }
}

TEST_CASE("several tangents per item through the whole U-Net equal one at a time") {
  std::string path = std::string(TWEEDIE_TEST_DATA) + "/adm_legacy_scaleshift_updown.h5";
  std::unique_ptr<nn::Network> net = load_model(path, test::device());
  H5File file = H5File::open(path);
  Tensor x = file.read("golden/x", test::device());
  nn::Conditioning c{file.read("golden/t").to_vector<float>(), {}};
  Context& ctx = test::context();
  Tensor y = Tensor::empty(net->output_shape(x.shape()), test::device());
  auto lin = net->linearize(ctx, x, c, y);
  const std::int64_t n = x.dim(0), copies = 3;
  Shape big{copies * n, x.dim(1), x.dim(2), x.dim(3)}, out{copies * n, y.dim(1), y.dim(2), y.dim(3)};
  Tensor v = Tensor::empty(big, test::device()), jv = Tensor::empty(out, test::device());
  std::vector<double> noise(std::size_t(big.numel()));
  for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = std::sin(0.37 * double(i));
  v.copy_from(test::upload(noise, big));
  net->jvp(ctx, *lin, v, jv);
  for (std::int64_t k = 0; k < copies; ++k) {
    Tensor one = v.slice(k * n, n).clone(), j1 = Tensor::empty(y.shape(), test::device());
    net->jvp(ctx, *lin, one, j1);
    // Batching changes the GEMM blocking, so the two agree to float rounding, not bitwise.
    CHECK(test::max_relative_error(test::download(jv.slice(k * n, n).clone()), test::download(j1)) < 1e-5);
  }
}

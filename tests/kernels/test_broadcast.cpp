// Products with a block repeated along the batch, against a naive double loop.
#include <doctest/doctest.h>

#include "kernels/broadcast.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::test;

TEST_CASE("multiply_repeated scales every copy of the block, real and complex, in place too") {
  Context& ctx = context();
  for (std::int64_t block : {1, 7, 33, 1031})
    for (std::int64_t copies : {1, 3}) {
      CAPTURE(block);
      CAPTURE(copies);
      std::vector<double> m = as_float(uniform(std::size_t(block), 1)), x = as_float(uniform(std::size_t(block * copies), 2));
      Tensor xt = upload(x, {copies, block}), y = Tensor::empty({copies, block}, device());
      multiply_repeated(ctx, xt, upload(m, {block}), y);
      std::vector<double> want(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] * m[i % m.size()];
      CHECK(max_relative_error(download(y), want) < 1e-6);
      multiply_repeated(ctx, xt, upload(m, {block}), xt);
      CHECK(max_relative_error(download(xt), want) < 1e-6);

      std::vector<std::complex<double>> z = complex_uniform(std::size_t(block * copies), 3), w = complex_uniform(std::size_t(block), 4);
      Tensor zt = upload(z, {copies, block}), out = Tensor::empty({copies, block}, device(), DType::c64);
      multiply_repeated(ctx, zt, upload(m, {block}), out);
      std::vector<std::complex<double>> want_real(z.size()), want_complex(z.size()), want_conj(z.size());
      for (std::size_t i = 0; i < z.size(); ++i) {
        want_real[i] = z[i] * m[i % m.size()];
        want_complex[i] = z[i] * w[i % w.size()];
        want_conj[i] = z[i] * std::conj(w[i % w.size()]);
      }
      CHECK(max_relative_error(download_complex(out), want_real) < 1e-6);
      multiply_repeated_complex(ctx, zt, upload(w, {block}), out);
      CHECK(max_relative_error(download_complex(out), want_complex) < 1e-5);
      multiply_repeated_complex(ctx, zt, upload(w, {block}), out, /*conjugate=*/true);
      CHECK(max_relative_error(download_complex(out), want_conj) < 1e-5);
    }
  Tensor x = Tensor::zeros({10}, device()), m = Tensor::zeros({3}, device());
  CHECK_THROWS_WITH_AS(multiply_repeated(ctx, x, m, x), doctest::Contains("m (3) does not tile x (10)"), ShapeError);
}

#include "kernels/concat.h"

#include "support.h"

using namespace tweedie;

TEST_CASE("concat_channels stacks parts along dimension 1 and split_channels undoes it") {
  const std::int64_t n = 3, h = 7, w = 5;
  std::vector<std::int64_t> channels = {1, 4, 1031};
  std::vector<std::vector<double>> values;
  std::vector<Tensor> parts;
  for (std::size_t p = 0; p < channels.size(); ++p) {
    values.push_back(test::as_float(test::uniform(n * channels[p] * h * w, 20 + p)));
    parts.push_back(test::upload(values.back(), {n, channels[p], h, w}));
  }
  Tensor y = Tensor::empty({n, 1036, h, w}, test::device());
  concat_channels(test::context(), parts, y);
  std::vector<double> got = test::download(y);
  for (std::int64_t b = 0; b < n; ++b) {
    std::int64_t c0 = 0;
    for (std::size_t p = 0; p < channels.size(); ++p) {
      for (std::int64_t c = 0; c < channels[p]; ++c)
        for (std::int64_t i = 0; i < h * w; ++i)
          CHECK(got[((b * 1036) + c0 + c) * h * w + i] == values[p][((b * channels[p]) + c) * h * w + i]);
      c0 += channels[p];
    }
  }
  std::vector<Tensor> back = {Tensor::empty({n, 1, h, w}, test::device()), Tensor::empty({n, 4, h, w}, test::device()),
                              Tensor::empty({n, 1031, h, w}, test::device())};
  split_channels(test::context(), y, back);
  for (std::size_t p = 0; p < back.size(); ++p) CHECK(test::download(back[p]) == values[p]);
}

TEST_CASE("concat errors name the part that does not fit") {
  Tensor a = Tensor::zeros({2, 3, 4, 4}, test::device()), b = Tensor::zeros({2, 3, 4, 5}, test::device());
  Tensor y = Tensor::zeros({2, 6, 4, 4}, test::device());
  CHECK_THROWS_WITH_AS(concat_channels(test::context(), {a, b}, y), doctest::Contains("part 1 is f32 (2,3,4,5)"), ShapeError);
  Tensor y5 = Tensor::zeros({2, 5, 4, 4}, test::device());
  CHECK_THROWS_WITH_AS(concat_channels(test::context(), {a, a}, y5), doctest::Contains("the parts have 6 channels in all"), ShapeError);
}

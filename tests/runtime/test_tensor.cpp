#include "runtime/tensor.h"

#include "runtime/memory.h"
#include "runtime/system_info.h"
#include "support.h"

using namespace tweedie;

TEST_CASE("tensor round-trips host values through its device") {
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::from_host<float>(values, {2, 3}, test::device());
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.dtype() == DType::f32);
  CHECK(t.device() == test::device());
  CHECK(t.nbytes() == 24);
  CHECK(t.to_vector() == values);
  CHECK(t.to_host().to_vector() == values);
  CHECK(t.str() == "f32 (2,3) on " + test::device().str());
}

TEST_CASE("zeros are zero and clones are independent copies") {
  Tensor z = Tensor::zeros({7, 5}, test::device());
  for (float v : z.to_vector()) CHECK(v == 0.0f);
  Tensor a = Tensor::from_host({1, 2, 3}, {3}, test::device());
  Tensor b = a.clone();
  CHECK_FALSE(b.shares_storage_with(a));
  b.copy_from(Tensor::from_host({7, 8, 9}, {3}));  // host source into a device tensor
  CHECK(a.to_vector() == std::vector<float>{1, 2, 3});
  CHECK(b.to_vector() == std::vector<float>{7, 8, 9});
}

TEST_CASE("reshape and slice are views onto the same storage") {
  std::vector<float> values(24);
  for (int i = 0; i < 24; ++i) values[i] = float(i);
  Tensor t = Tensor::from_host<float>(values, {4, 3, 2}, test::device());
  Tensor r = t.reshape({6, 4});
  CHECK(r.shares_storage_with(t));
  CHECK(r.to_vector() == values);
  Tensor s = t.slice(1, 2);  // rows 1 and 2
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.shares_storage_with(t));
  CHECK(s.to_vector() == std::vector<float>(values.begin() + 6, values.begin() + 18));
  s.copy_from(Tensor::zeros({2, 3, 2}));
  std::vector<float> after = t.to_vector();
  CHECK(after[5] == 5.0f);
  CHECK(after[6] == 0.0f);
  CHECK(after[17] == 0.0f);
  CHECK(after[18] == 18.0f);
}

TEST_CASE("complex tensors hold interleaved real and imaginary parts") {
  std::vector<std::complex<float>> z = {{1, -1}, {2.5f, 0}, {0, 3}};
  Tensor t = Tensor::from_host<std::complex<float>>(z, {3}, test::device());
  CHECK(t.dtype() == DType::c64);
  CHECK(t.nbytes() == 24);
  CHECK(t.to_vector<std::complex<float>>() == z);
}

TEST_CASE("tensor errors name both shapes or types") {
  Tensor t = Tensor::zeros({2, 3}, test::device());
  CHECK_THROWS_WITH_AS(t.reshape({4, 2}), "cannot reshape (2,3) (6 elements) to (4,2) (8 elements)", ShapeError);
  CHECK_THROWS_WITH_AS(t.slice(1, 2), "slice [1, 3) out of range for dimension 0 of (2,3)", ShapeError);
  CHECK_THROWS_AS((void)t.data<std::complex<float>>(), DTypeError);
  CHECK_THROWS_WITH_AS(t.copy_from(Tensor::zeros({3, 2})),
                       doctest::Contains("destination is f32 (2,3)"), ShapeError);
  CHECK_THROWS_WITH_AS(Tensor::from_host({1, 2, 3}, {2, 2}), "got 3 values for shape (2,2) (4 elements)", ShapeError);
}

TEST_CASE("memory counters follow allocations and keep the peak") {
  Device d = test::device();
  reset_peak_memory(d);
  std::int64_t before = memory_stats(d).current;
  {
    Tensor big = Tensor::empty({1000, 1000}, d);
    CHECK(memory_stats(d).current == before + 4000000);
  }
  CHECK(memory_stats(d).current == before);
  CHECK(memory_stats(d).peak >= before + 4000000);
  reset_peak_memory(d);
  CHECK(memory_stats(d).peak == before);
}

TEST_CASE("a CUDA tensor in a build or on a machine without CUDA is a clear DeviceError") {
  if (cuda_device_count() > 0) return;  // this machine has one
  CHECK_THROWS_WITH_AS(Tensor::empty({2}, Device::cuda(0)),
                       doctest::Contains(cuda_compiled() ? "no CUDA device is available" : "this build has no CUDA backend"),
                       DeviceError);
}

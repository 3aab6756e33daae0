#include "runtime/shape.h"

#include "runtime/error.h"
#include "support.h"

using namespace tweedie;

TEST_CASE("shape counts elements and strides, and prints itself") {
  Shape s{2, 3, 4};
  CHECK(s.rank() == 3);
  CHECK(s.numel() == 24);
  CHECK(s[0] == 2);
  CHECK(s[-1] == 4);
  CHECK(s.stride(0) == 12);
  CHECK(s.stride(2) == 1);
  CHECK(s.str() == "(2,3,4)");
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{}.str() == "()");
  CHECK(s.index_str(0) == "(0, 0, 0)");
  CHECK(s.index_str(23) == "(1, 2, 3)");
  CHECK(s.index_str(1 * 12 + 0 * 4 + 2) == "(1, 0, 2)");
  CHECK(Shape{}.index_str(0) == "()");
  CHECK(Shape{5, 0}.numel() == 0);
  CHECK(Shape{2, 3} == Shape{2, 3});
  CHECK_FALSE(Shape{2, 3} == Shape{3, 2});
  CHECK_FALSE(Shape{6} == Shape{6, 1});
}

TEST_CASE("shape rejects bad extents and axes with the offending value") {
  CHECK_THROWS_WITH_AS(Shape({2, -1}), "negative extent -1 in dimension 1", ShapeError);
  CHECK_THROWS_WITH_AS(Shape({1, 1, 1, 1, 1, 1, 1}), "a tensor has at most 6 dimensions, got 7", ShapeError);
  CHECK_THROWS_WITH_AS((void)Shape({2, 3})[2], "axis 2 out of range for shape (2,3)", ShapeError);
  CHECK_THROWS_AS(Shape({1LL << 40, 1LL << 40}), ShapeError);
}

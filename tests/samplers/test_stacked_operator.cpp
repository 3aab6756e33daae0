// One operator per observation ('each:' specs, samplers/operators/stacked_operator.h): item i of a
// batch goes through exactly the operator that spec i would build alone, the adjoint holds, rows are
// selected for samples per observation, and datasets of the wrong length are named.
#include <doctest/doctest.h>

#include <cmath>

#include "io/hdf5_file.h"
#include "io/operator_spec.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operator_checks.h"
#include "samplers/operators/stacked_operator.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::test;
using samplers::Signal;

namespace {

SpecOptions with_items(std::int64_t items, std::uint64_t seed = 0) {
  SpecOptions o;
  o.items = items;
  o.seed = seed;
  return o;
}

// Output of item i of the stacked operator against spec_i built alone, on the same inputs.
void check_items_match(const samplers::Operator& stacked, const std::vector<std::string>& alone, const Signal& x) {
  Context& ctx = context();
  const std::int64_t n = std::int64_t(alone.size());
  Tensor in = random_input(stacked, n, 3);
  Tensor y = stacked.make_output(n, device());
  stacked.apply(ctx, in, y);
  for (std::int64_t i = 0; i < n; ++i) {
    CAPTURE(i);
    BuiltOperator one = build_operator(alone[std::size_t(i)], x, device());
    Tensor yi = one.op->make_output(1, device());
    one.op->apply(ctx, in.slice(i, 1), yi);
    CHECK(download(y.slice(i, 1)) == download(yi));
  }
}

}  // namespace

TEST_CASE("each:inpaint draws observation i's mask with seed + i, and describes itself canonically") {
  const Signal x{{1, 8, 8}, DType::f32};
  BuiltOperator b = build_operator("each:inpaint:p=0.5", x, device(), with_items(4, 7));
  CHECK(b.op->describe() == "each:inpaint:p=0.5:channels=shared:seed=7");
  std::vector<std::string> alone;
  for (int i = 0; i < 4; ++i) alone.push_back(cat("inpaint:p=0.5:seed=", 7 + i));
  check_items_match(*b.op, alone, x);
  // The canonical spec builds the same operators again.
  BuiltOperator again = build_operator(b.op->describe(), x, device(), with_items(4));
  check_items_match(*again.op, alone, x);
  CHECK(adjoint_mismatch(context(), *b.op, 4, 5) < 1e-5);
  // Observed entries: those any observation measures.
  std::vector<double> seen = download(b.op->observed()), any(64, 0.0);
  auto& stacked = dynamic_cast<const samplers::StackedOperator&>(*b.op);
  for (int i = 0; i < 4; ++i) {
    std::vector<double> oi = download(stacked.item(i).observed());
    for (int e = 0; e < 64; ++e) any[std::size_t(e)] = std::max(any[std::size_t(e)], oi[std::size_t(e)]);
  }
  CHECK(seen == any);
}

TEST_CASE("each: with datasets reads entry i of each, one entry per observation") {
  TempDir dir;
  const Signal x{{3}, DType::f32};
  std::vector<double> a = uniform(4 * 2 * 3, 11);
  {
    H5File f = H5File::create(dir.file("a.h5"));
    f.write("a", upload(a, {4, 2, 3}).to_host());
    f.commit();
  }
  BuiltOperator b = build_operator("each:matrix:a=" + dir.file("a.h5") + "#a", x, device(), with_items(4));
  Context& ctx = context();
  Tensor in = random_input(*b.op, 4, 9);
  Tensor y = b.op->make_output(4, device());
  b.op->apply(ctx, in, y);
  std::vector<double> xv = download(in), yv = download(y), af = as_float(a);
  for (int i = 0; i < 4; ++i)
    for (int r = 0; r < 2; ++r) {
      double want = 0;
      for (int c = 0; c < 3; ++c) want += af[std::size_t((i * 2 + r) * 3 + c)] * xv[std::size_t(i * 3 + c)];
      CHECK(yv[std::size_t(i * 2 + r)] == doctest::Approx(want).epsilon(1e-6));
    }
  CHECK(adjoint_mismatch(ctx, *b.op, 4, 2) < 1e-5);
  // Three observations cannot use four matrices, and a shared operator cannot be 'each'.
  try {
    build_operator("each:matrix:a=" + dir.file("a.h5") + "#a", x, device(), with_items(3));
    FAIL("no error");
  } catch (const ArgumentError& e) {
    CHECK(std::string(e.what()).find("one entry per observation") != std::string::npos);
    CHECK(std::string(e.what()).find("(4,2,3)") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(build_operator("each:identity", x, device()), doctest::Contains("number is not known"), ArgumentError);
  CHECK_THROWS_WITH_AS(build_operator("each:each:identity", x, device(), with_items(2)), doctest::Contains("twice"), ArgumentError);
}

TEST_CASE("matrix:random gives unit rows, and each observation its own") {
  const Signal x{{5}, DType::f32};
  BuiltOperator b = build_operator("each:matrix:random=2", x, device(), with_items(3, 4));
  CHECK(b.op->describe() == "each:matrix:random=2:seed=4");
  std::vector<std::string> alone;
  for (int i = 0; i < 3; ++i) alone.push_back(cat("matrix:random=2:seed=", 4 + i));
  check_items_match(*b.op, alone, x);
  // Rows of A from A^T applied to unit outputs.
  BuiltOperator one = build_operator("matrix:random=2:seed=4", x, device());
  Tensor e = upload(std::vector<double>{1, 0, 0, 1}, {2, 2});
  Tensor rows = one.op->make_input(2, device());
  one.op->adjoint(context(), e, rows);
  std::vector<double> r = download(rows);
  for (int k = 0; k < 2; ++k) {
    double norm = 0;
    for (int c = 0; c < 5; ++c) norm += r[std::size_t(k * 5 + c)] * r[std::size_t(k * 5 + c)];
    CHECK(norm == doctest::Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("a stacked operator maps batches of one item per operator; select repeats them for samples") {
  const Signal x{{1, 4, 4}, DType::f32};
  BuiltOperator b = build_operator("each:inpaint:p=0.5", x, device(), with_items(3, 1));
  auto stacked = std::dynamic_pointer_cast<const samplers::StackedOperator>(b.op);
  REQUIRE(stacked);
  Context& ctx = context();
  Tensor in2 = random_input(*b.op, 2, 1), out2 = b.op->make_output(2, device());
  CHECK_THROWS_WITH_AS(b.op->apply(ctx, in2, out2), doctest::Contains("one operator per observation (3)"), ShapeError);
  // Rows 2..5 of a run with 2 samples per observation belong to observations 1, 1, 2, 2.
  std::shared_ptr<const samplers::Operator> rows = samplers::operator_for_rows(b.op, 2, 4, 2);
  auto picked = std::dynamic_pointer_cast<const samplers::StackedOperator>(rows);
  REQUIRE(picked);
  CHECK(picked->count() == 4);
  CHECK(&picked->item(0) == &stacked->item(1));
  CHECK(&picked->item(1) == &stacked->item(1));
  CHECK(&picked->item(3) == &stacked->item(2));
  // A shared operator serves any rows as it is.
  BuiltOperator shared = build_operator("inpaint:p=0.5", x, device());
  CHECK(samplers::operator_for_rows(shared.op, 2, 4, 2) == shared.op);
}

TEST_CASE("the likelihood of a stacked operator adds noise and scores only where each observation measures") {
  const Signal x{{1, 6, 6}, DType::f32};
  BuiltOperator b = build_operator("each:inpaint:p=0.5", x, device(), with_items(3, 2));
  auto& stacked = dynamic_cast<const samplers::StackedOperator&>(*b.op);
  BuiltNoise noise = build_noise("gaussian:sigma=0.1", b.op->output(), device());
  samplers::Likelihood lik(b.op, noise.noise);
  Context& ctx = context();
  Tensor in = random_input(*b.op, 3, 4), y = b.op->make_output(3, device());
  lik.simulate(ctx, in, RandomStream{7, 0}, y);
  std::vector<double> xv = download(in), yv = download(y);
  std::vector<double> logp = lik.log_likelihood(ctx, y, in);
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    std::vector<double> seen = download(stacked.item(i).observed());
    double want = 0;
    for (int e = 0; e < 36; ++e) {
      const std::size_t k = std::size_t(i * 36 + e);
      if (seen[std::size_t(e)] == 0) {
        CHECK(yv[k] == 0.0);  // not measured by this observation, though others measure it
      } else {
        const double r = (yv[k] - xv[k]) / 0.1;
        want += -0.5 * r * r - std::log(0.1) - 0.5 * std::log(2 * M_PI);
      }
    }
    CHECK(logp[std::size_t(i)] == doctest::Approx(want).epsilon(1e-5));
  }
}

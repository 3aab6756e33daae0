// Posterior methods under correlated Gaussian noise (a full or low-rank Sigma_y) against the Gaussian
// conditioning in double (gaussian_problems.h with a full noise block): MMPS's denoiser is exact, as
// Pi-GDM's and TMPD's are on the priors they are exact for; sampled posteriors match the exact one,
// and keeping only Sigma_y's diagonal does not; the methods built for a diagonal Sigma_y refuse.
#include <cmath>
#include <numbers>

#include "runtime/error.h"
#include "samplers/gaussian_problems.h"
#include "samplers/noise/likelihood.h"
#include "samplers/noise/noise_model.h"
#include "samplers/posterior/mmps.h"
#include "samplers/posterior/solve.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using namespace tweedie::test;

namespace {

// diag(sigma^2) + F^T F over m entries, F (rank x m) uniform in [-scale, scale], as f32 values; and the
// noise model made from the same numbers (low rank, or the dense matrix as a full covariance).
struct CorrelatedNoise {
  Matrix dense;  // m x m
  std::shared_ptr<NoiseModel> model;
};
CorrelatedNoise correlated_noise(std::int64_t m, const Shape& item, double sigma, std::int64_t rank, double scale, bool full,
                                 std::uint64_t seed) {
  const std::vector<double> f = as_float(uniform(std::size_t(rank * m), seed, -scale, scale));
  const double s2 = double(float(sigma)) * double(float(sigma));
  CorrelatedNoise c;
  c.dense.assign(std::size_t(m * m), 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < m; ++j) {
      double v = i == j ? s2 : 0.0;
      for (std::int64_t q = 0; q < rank; ++q) v += f[std::size_t(q * m + i)] * f[std::size_t(q * m + j)];
      c.dense[std::size_t(i * m + j)] = v;
    }
  if (full) {
    c.dense = as_float(c.dense);
    c.model = make_full_covariance_noise(test::host_f32(c.dense, {m, m}), item, "gaussian:cov=test");
  } else {
    c.model = make_low_rank_covariance_noise(test::host_f32({sigma}, {1}), test::host_f32(f, {rank, m}), item, "gaussian:sigma=test:factor=test");
  }
  return c;
}

// The measured entries of the problem's output, in the order of pb.obs and the rows of pb.a.
std::vector<std::int64_t> measured(const Problem& pb) {
  const std::int64_t m = pb.op->output().shape.numel();
  std::vector<double> seen(std::size_t(m), 1.0);
  if (pb.op->observed().defined()) seen = download(pb.op->observed());
  std::vector<std::int64_t> rows;
  for (std::int64_t e = 0; e < m; ++e)
    if (seen[std::size_t(e)] != 0) rows.push_back(e);
  return rows;
}

// Sigma_oo: the noise covariance of the measured entries.
Matrix measured_block(const Problem& pb, const Matrix& dense) {
  const std::int64_t m = pb.op->output().shape.numel();
  Matrix out;
  for (std::int64_t i : measured(pb))
    for (std::int64_t j : measured(pb)) out.push_back(dense[std::size_t(i * m + j)]);
  return out;
}

// E[x | x_t, y] with y's noise N(0, R): condition on (x_t, y) = [alpha I; A] x + noise, the noise
// block-diagonal with sigma^2 I and R.
DenoiserReference exact_correlated_denoiser(const Problem& pb, const Matrix& r) {
  return [&pb, r](const std::vector<double>& xt, double alpha, double sigma) {
    const auto k = std::int64_t(pb.obs.size()), d = pb.d, n = d + k;
    Matrix h(std::size_t(n * d), 0.0), noise(std::size_t(n * n), 0.0);
    for (std::int64_t i = 0; i < d; ++i) h[std::size_t(i * d + i)] = alpha, noise[std::size_t(i * n + i)] = sigma * sigma;
    std::copy(pb.a.begin(), pb.a.end(), h.begin() + d * d);
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j < k; ++j) noise[std::size_t((d + i) * n + d + j)] = r[std::size_t(i * k + j)];
    std::vector<double> o = xt;
    o.insert(o.end(), pb.obs.begin(), pb.obs.end());
    return condition_correlated(pb.s, pb.mu, h, o, noise).mean;
  };
}

}  // namespace

TEST_CASE("MMPS with a correlated Sigma_y is the exact E[x | x_t, y]; Pi-GDM and TMPD are where their covariances are exact") {
  Context& ctx = context();
  struct Row {
    const char* problem;
    const char* covariance;
    bool full;
  };
  for (const Row& row : {Row{"matrix", "tweedie", true}, Row{"mask-dense", "tweedie", false}, Row{"white-matrix", "pigdm", true},
                         Row{"diagonal-mask", "tmpd", false}}) {
    const std::string name = row.problem;
    CAPTURE(name);
    const Problem pb = make_problem(row.problem);
    const Shape& item = pb.op->output().shape;
    const CorrelatedNoise noise = correlated_noise(item.numel(), item, 0.1, 3, 0.3, row.full, 60);
    MmpsOptions o = converged(pb);
    o.covariance = row.covariance;
    const auto exact = exact_correlated_denoiser(pb, measured_block(pb, noise.dense));
    const double err = denoiser_error(pb, *make_mmps_denoiser(pb.prior, pb.op, ctx, *noise.model, pb.y, o), exact);
    // The same solve with only Sigma_y's diagonal: what ignoring the correlations costs.
    std::vector<double> sd;
    for (std::int64_t i = 0; i < item.numel(); ++i) sd.push_back(std::sqrt(noise.dense[std::size_t(i * item.numel() + i)]));
    const auto diagonal = make_gaussian_noise(test::host_f32(sd, item), "gaussian:sigma=diagonal", device());
    const double err_diagonal = denoiser_error(pb, *make_mmps_denoiser(pb.prior, pb.op, ctx, *diagonal, pb.y, o), exact);
    MESSAGE(std::string(row.problem), " (", std::string(row.covariance), ", ", std::string(row.full ? "full" : "low-rank"), " Sigma_y): relative error ", err,
            "; with Sigma_y's diagonal only ", err_diagonal);
    CHECK(err < 1e-3);
    CHECK(err_diagonal > 0.02);
  }
}

TEST_CASE("methods built for a diagonal Sigma_y refuse correlated noise and say why; the others take it") {
  Context& ctx = context();
  const Problem pb = make_problem("mask-dense");
  const Shape& item = pb.op->output().shape;
  const CorrelatedNoise noise = correlated_noise(item.numel(), item, 0.1, 2, 0.3, false, 61);
  const SolveProblem problem{pb.prior, pb.op, noise.model, pb.y};
  for (const std::string method : {"ddrm", "ddnm", "repaint", "tds"}) {
    CAPTURE(method);
    SolveOptions o;
    o.method = method;
    CHECK_THROWS_WITH_AS(check_solve_problem(ctx, o, problem, method), doctest::Contains("has correlated entries"), ArgumentError);
  }
  for (const std::string method : {"mmps", "pigdm", "tmpd", "dps", "daps", "diffpir", "rmp", "map-tikhonov", "map-tv", "pnp", "red"}) {
    CAPTURE(method);
    SolveOptions o;
    o.method = method;
    o.baseline.iterations = 5;
    o.sampler.steps = 4;
    o.mmps.krylov.max_iterations = 3;
    CHECK_NOTHROW(check_solve_problem(ctx, o, problem, method));
    const std::vector<double> x = download(solve_rows(ctx, o, problem, 2, 0, 2));
    bool finite = true;
    for (double v : x) finite = finite && std::isfinite(v);
    CHECK(finite);
  }
}

TEST_SUITE("slow") {
TEST_CASE("tweedie solve's posterior under correlated noise: MMPS's samples match the exact posterior, Sigma_y's diagonal alone does not") {
  Context& ctx = context();
  // Noise mostly along two directions (F^T F, entries up to 0.3) over a 1e-3 floor: the data pin down
  // the other six directions of the 8 outputs, which a diagonal Sigma_y of about 0.06 per entry cannot see.
  Problem pb = make_problem("matrix");
  const Shape& item = pb.op->output().shape;
  const std::int64_t m = item.numel();
  const CorrelatedNoise noise = correlated_noise(m, item, std::sqrt(1e-3), 2, 0.3, true, 62);
  // y = A x + e, e ~ N(0, Sigma_y), drawn in double through Sigma_y's eigenvectors.
  {
    const std::vector<double> x = uniform(std::size_t(pb.d), 63), z = uniform(std::size_t(2 * m), 64, 1e-12, 1.0);
    const SymmetricEigen e = symmetric_eigen(noise.dense, m);
    pb.obs = multiply_dense(pb.a, x, m, pb.d, 1);
    for (std::int64_t k = 0; k < m; ++k) {
      const double g = std::sqrt(-2 * std::log(z[std::size_t(2 * k)])) * std::cos(2 * std::numbers::pi * z[std::size_t(2 * k + 1)]) *
                       std::sqrt(std::max(e.values[std::size_t(k)], 0.0));
      for (std::int64_t i = 0; i < m; ++i) pb.obs[std::size_t(i)] += g * e.vectors[std::size_t(k * m + i)];
    }
    pb.y = upload(pb.obs, pb.y.shape());
  }
  const Gaussian post = condition_correlated(pb.s, pb.mu, pb.a, pb.obs, noise.dense);
  const std::int64_t n = 500;
  const MomentError floor = moment_error(exact_draws(post, pb.d, n, 65), post, pb.d);
  std::vector<double> sd;
  for (std::int64_t i = 0; i < m; ++i) sd.push_back(std::sqrt(noise.dense[std::size_t(i * m + i)]));
  const std::shared_ptr<NoiseModel> diagonal = make_gaussian_noise(test::host_f32(sd, item), "gaussian:sigma=diagonal", device());
  MESSAGE("matrix problem (D = 16, 8 outputs), Sigma_y = 1e-3 I + F^T F (rank 2), ", n, " samples, 100 ddpm steps; exact draws: mean error ",
          floor.mean, " sd, covariance error ", floor.cov);
  auto run = [&](const char* method, const std::shared_ptr<NoiseModel>& model) {
    SolveOptions o;
    o.method = method;
    o.seed = 9;
    o.sampler.kind = "ddpm";
    o.sampler.steps = 100;
    o.mmps = converged(pb);
    const MomentError e = moment_error(download(solve_rows(ctx, o, SolveProblem{pb.prior, pb.op, model, pb.y}, n, 0, n)), post, pb.d);
    MESSAGE(std::string(method), " with ", std::string(model == diagonal ? "Sigma_y's diagonal" : "the full Sigma_y"), ": mean error ", e.mean,
            " sd, covariance error ", e.cov);
    return e;
  };
  const MomentError full = run("mmps", noise.model), diag = run("mmps", diagonal);
  run("daps", noise.model);  // reported: its Langevin steps on this ill-conditioned likelihood
  CHECK(full.mean < 2 * floor.mean + 0.05);
  CHECK(full.cov < 2 * floor.cov + 0.05);
  // Measured: mean errors 0.042 (full) against 0.23 sd (diagonal), covariance errors 0.12 against 0.17
  // (the Monte-Carlo floor is 0.12: the posterior's largest directions are the prior's, which the noise
  // model hardly changes).
  CHECK(diag.mean > 3 * full.mean);
  CHECK(diag.cov > full.cov);
}
}

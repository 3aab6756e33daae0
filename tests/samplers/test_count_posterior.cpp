// The count-data posterior denoisers (evidence trick, MMPS for counts) against a dense double-precision
// reconstruction of each formula for exact priors, and elliptical slice sampling against closed-form
// and quadrature posteriors.
#include <cmath>
#include <numbers>
#include <random>

#include "kernels/axpby.h"
#include "kernels/count_evidence.h"
#include "runtime/error.h"
#include "samplers/closed_form_process.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/mixture_denoiser.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/count_posterior.h"
#include "samplers/posterior/ess.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

using Matrix = std::vector<double>;  // row-major

// A count problem on vectors of D entries: a dense Gaussian or a two-component mixture prior, an
// operator with its dense matrix (rows of the measured entries), a count model and y.
struct Problem {
  std::int64_t d = 10;
  std::shared_ptr<Denoiser> prior;
  std::vector<double> mu;
  Matrix s;
  std::shared_ptr<const Operator> op;
  Matrix a;                     // k x d, measured rows
  std::vector<std::int64_t> rows;  // which output entries are measured
  std::int64_t out = 0;
  std::shared_ptr<const NoiseModel> noise;
  CountLaw law;
  std::vector<double> trials;   // per output entry
  std::vector<double> y;        // per output entry
};

// kind: "poisson-matrix" (exp link, 6 x D matrix with entries in [-0.4, 0.4]) or "binomial-mask"
// (sigmoid link, scale 0.9, per-entry trials, a mask keeping 7 of D entries).
Problem make_problem(const std::string& kind, bool mixture = false) {
  Problem pb;
  const Device dev = test::device();
  Signal in{{pb.d}, DType::f32};
  pb.mu = test::uniform(std::size_t(pb.d), 3, -0.5, 0.5);
  pb.s = test::random_covariance(pb.d, 4);
  if (mixture) {
    MixturePrior m;
    m.dim = pb.d;
    m.weights = {0.4, 0.6};
    m.means = pb.mu;
    for (double v : test::uniform(std::size_t(pb.d), 5, -1, 1)) m.means.push_back(v);
    m.covs = pb.s;
    for (double v : test::random_covariance(pb.d, 6)) m.covs.push_back(v);
    pb.prior = std::make_shared<MixtureDenoiser>(m, std::make_unique<test::TrigProcess>(), dev);
  } else {
    GaussianPrior g;
    g.kind = GaussianPrior::Covariance::dense;
    g.item_shape = in.shape;
    g.mean = pb.mu;
    g.cov = pb.s;
    pb.prior = std::make_shared<GaussianDenoiser>(g, std::make_unique<test::TrigProcess>(), dev);
  }
  if (kind == "poisson-matrix") {
    pb.out = 6;
    std::vector<double> a = test::uniform(std::size_t(pb.out * pb.d), 7, -0.4, 0.4);
    pb.op = make_matrix(in, test::upload(a, {pb.out, pb.d}), "matrix", dev);
    pb.a = a;
    for (std::int64_t i = 0; i < pb.out; ++i) pb.rows.push_back(i);
    pb.law = {CountFamily::poisson, CountLink::exp, 3.0};
    pb.noise = make_poisson_noise(3.0, Link::exp);
    pb.trials.assign(std::size_t(pb.out), 0.0);
    pb.y = {0, 2, 5, 1, 9, 3};
  } else {
    pb.out = pb.d;
    std::vector<double> keep{1, 1, 0, 1, 1, 0, 1, 0, 1, 1};
    pb.op = make_mask(in, test::upload(keep, {pb.d}), "mask", dev);
    for (std::int64_t i = 0; i < pb.d; ++i)
      if (keep[std::size_t(i)] != 0) {
        pb.rows.push_back(i);
        for (std::int64_t j = 0; j < pb.d; ++j) pb.a.push_back(i == j ? 1.0 : 0.0);
      }
    pb.trials = {5, 12, 1, 30, 7, 2, 50, 9, 20, 3};
    pb.law = {CountFamily::binomial, CountLink::sigmoid, 0.9};
    pb.noise = make_binomial_noise(test::upload(pb.trials, {pb.d}), 0.9, "binomial:n=trials.h5:scale=0.9", dev);
    pb.y = {2, 11, 0, 4, 7, 0, 20, 0, 13, 1};
  }
  return pb;
}

// J = d E[x | x_t] / d x_t of one item, D x D, from the denoiser's own JVPs (exact for these priors:
// checked in test_gaussian_denoiser and test_mixture_denoiser).
Matrix jacobian(const Problem& pb, const std::vector<double>& xt, double t) {
  Context& ctx = test::context();
  Tensor x = test::upload(xt, {1, pb.d}), x0 = Tensor::empty({1, pb.d}, test::device());
  auto lin = pb.prior->linearize(ctx, x, t, x0);
  std::vector<double> eye(std::size_t(pb.d * pb.d), 0.0);
  for (std::int64_t i = 0; i < pb.d; ++i) eye[std::size_t(i * pb.d + i)] = 1;
  Tensor e = test::upload(eye, {pb.d, pb.d}), je = Tensor::empty({pb.d, pb.d}, test::device());
  pb.prior->jvp(ctx, *lin, e, je);
  return test::transpose_dense(test::download(je), pb.d, pb.d);  // column j = J e_j
}

std::vector<double> prior_mean(const Problem& pb, const std::vector<double>& xt, double t) {
  Tensor x = test::upload(xt, {1, pb.d}), x0 = Tensor::empty({1, pb.d}, test::device());
  pb.prior->denoise(test::context(), x, t, x0);
  return test::download(x0);
}

// E[x | x_t, y] by the formulas of count_posterior.h in double, for one item. variance: "exact",
// "heuristic" or "none".
std::vector<double> reference(const Problem& pb, const std::string& method, const std::string& variance, const std::vector<double>& xt,
                              double t, double clip = 0) {
  test::TrigProcess process;
  const double al = process.alpha(t), si = process.sigma(t), c = si * si / al;
  const std::int64_t d = pb.d, k = std::int64_t(pb.rows.size());
  Matrix j = jacobian(pb, xt, t);
  Matrix cov = j;
  for (double& v : cov) v *= c;
  std::vector<double> e = prior_mean(pb, xt, t);
  std::vector<double> z = test::multiply_dense(pb.a, e, k, d, 1);
  Matrix ac = test::multiply_dense(pb.a, cov, k, d, d);                             // A C
  Matrix acat = test::multiply_dense(ac, test::transpose_dense(pb.a, k, d), k, d, k);  // A C A^T
  std::vector<double> v(std::size_t(k), 0.0);
  for (std::int64_t i = 0; i < k; ++i) {
    if (variance == "exact") v[std::size_t(i)] = acat[std::size_t(i * k + i)];
    if (variance == "heuristic")
      for (std::int64_t l = 0; l < d; ++l) v[std::size_t(i)] += si * si / (al * al + si * si) * pb.a[std::size_t(i * d + l)] * pb.a[std::size_t(i * d + l)];
  }
  std::vector<double> result = e;
  if (method == "evidence") {
    std::vector<double> score(static_cast<std::size_t>(k));
    for (std::int64_t i = 0; i < k; ++i) {
      std::size_t r = std::size_t(pb.rows[std::size_t(i)]);
      double yv = pb.y[r];
      score[std::size_t(i)] = pb.law.family == CountFamily::poisson
                                  ? poisson_entry_evidence(yv, pb.law.link, pb.law.scale, z[std::size_t(i)], v[std::size_t(i)]).score
                                  : binomial_entry_evidence(yv, pb.trials[r], pb.law.scale, z[std::size_t(i)], v[std::size_t(i)]).score;
    }
    std::vector<double> back = test::multiply_dense(test::transpose_dense(pb.a, k, d), score, d, k, 1);
    std::vector<double> grad = test::multiply_dense(test::transpose_dense(j, d, d), back, d, d, 1);
    for (std::int64_t i = 0; i < d; ++i) {
      double g = grad[std::size_t(i)];
      if (clip > 0) g = std::clamp(g, -clip, clip);
      result[std::size_t(i)] += c * g;
    }
    return result;
  }
  // (I + H A C A^T H) u = pearson, result = E + C A^T H u.
  std::vector<double> h(static_cast<std::size_t>(k)), b(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < k; ++i) {
    std::size_t r = std::size_t(pb.rows[std::size_t(i)]);
    NewtonTerms nt = count_newton_terms(pb.y[r], pb.trials[r], pb.law, z[std::size_t(i)], v[std::size_t(i)]);
    h[std::size_t(i)] = nt.root_weight, b[std::size_t(i)] = nt.pearson;
  }
  Matrix m(std::size_t(k * k));
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t l = 0; l < k; ++l) m[std::size_t(i * k + l)] = (i == l) + h[std::size_t(i)] * acat[std::size_t(i * k + l)] * h[std::size_t(l)];
  std::vector<double> u = test::solve_dense(m, b, k, 1);
  for (std::int64_t i = 0; i < k; ++i) u[std::size_t(i)] *= h[std::size_t(i)];
  std::vector<double> delta = test::multiply_dense(test::transpose_dense(ac, k, d), u, d, k, 1);
  for (std::int64_t i = 0; i < d; ++i) result[std::size_t(i)] += delta[std::size_t(i)];
  return result;
}

// The posterior denoiser's output for a batch of x_t items (one shared observation).
std::vector<double> run(const Problem& pb, const CountPosteriorOptions& o, const std::vector<double>& xt, std::int64_t n, double t) {
  Tensor y = test::upload(pb.y, {1, pb.out});
  auto post = make_count_posterior(pb.prior, pb.op, pb.noise, y, o);
  Tensor x = test::upload(xt, {n, pb.d}), x0 = Tensor::empty({n, pb.d}, test::device());
  post->denoise(test::context(), x, t, x0);
  return test::download(x0);
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double scale = 0, err = 0;
  for (std::size_t i = 0; i < got.size(); ++i) scale = std::max(scale, std::abs(want[i])), err = std::max(err, std::abs(got[i] - want[i]));
  CHECK(err <= tol * std::max(scale, 1.0));
}

}  // namespace

TEST_CASE("count posterior: evidence and MMPS for counts match their formulas in double, every variance, batched") {
  for (bool mixture : {false, true}) {
    for (const char* kind : {"poisson-matrix", "binomial-mask"}) {
      Problem pb = make_problem(kind, mixture);
      const std::int64_t n = 3;
      std::vector<double> xt = test::uniform(std::size_t(n * pb.d), 21, -1, 1);
      for (const char* method : {"evidence", "mmps"}) {
        for (const char* variance : {"exact", "heuristic", "none"}) {
          for (double t : {0.3, 0.8}) {
            CAPTURE(mixture); CAPTURE(kind); CAPTURE(method); CAPTURE(variance); CAPTURE(t);
            CountPosteriorOptions o;
            o.method = method;
            o.variance = variance;
            o.krylov = {.max_iterations = 12, .tolerance = 1e-7};
            std::vector<double> got = run(pb, o, xt, n, t);
            for (std::int64_t b = 0; b < n; ++b) {
              std::vector<double> item(xt.begin() + b * pb.d, xt.begin() + (b + 1) * pb.d);
              std::vector<double> want = reference(pb, method, variance, item, t);
              check_close(std::vector<double>(got.begin() + b * pb.d, got.begin() + (b + 1) * pb.d), want, 2e-4);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("count posterior: clipping bounds the likelihood gradient; Hutchinson probes converge to the exact variance") {
  Problem pb = make_problem("poisson-matrix");
  std::vector<double> xt = test::uniform(std::size_t(pb.d), 22, -1, 1);
  CountPosteriorOptions o;
  o.method = "evidence";
  o.variance = "exact";
  o.clip = 0.05;
  check_close(run(pb, o, xt, 1, 0.5), reference(pb, "evidence", "exact", xt, 0.5, 0.05), 2e-4);
  // Clipping at 0.05 changed the answer here (so the check above tests something).
  o.clip = 0;
  std::vector<double> unclipped = run(pb, o, xt, 1, 0.5), clipped = reference(pb, "evidence", "exact", xt, 0.5, 0.05);
  double diff = 0;
  for (std::size_t i = 0; i < unclipped.size(); ++i) diff = std::max(diff, std::abs(unclipped[i] - clipped[i]));
  CHECK(diff > 1e-2);
  // 4000 Rademacher probes: the estimated diagonal is within a few percent, and so is the result.
  o.variance = "probes";
  o.probes = 4000;
  for (const char* method : {"evidence", "mmps"}) {
    o.method = method;
    o.krylov = {.max_iterations = 12, .tolerance = 1e-7};
    check_close(run(pb, o, xt, 1, 0.5), reference(pb, method, "exact", xt, 0.5), 2e-2);
  }
}

TEST_CASE("count posterior: refusals name the problem") {
  Problem pb = make_problem("poisson-matrix");
  Tensor y = test::upload(pb.y, {1, pb.out});
  CountPosteriorOptions o;
  auto gaussian = std::shared_ptr<const NoiseModel>(make_gaussian_noise(0.1));
  CHECK_THROWS_WITH_AS(make_count_posterior(pb.prior, pb.op, gaussian, y, o), doctest::Contains("not a count model"), ArgumentError);
  o.method = "laplace";
  CHECK_THROWS_WITH_AS(make_count_posterior(pb.prior, pb.op, pb.noise, y, o), doctest::Contains("method 'laplace'"), ArgumentError);
  o.method = "evidence";
  o.variance = "sometimes";
  CHECK_THROWS_WITH_AS(make_count_posterior(pb.prior, pb.op, pb.noise, y, o), doctest::Contains("variance 'sometimes'"), ArgumentError);
  o.variance = "probes";
  o.probes = 0;
  CHECK_THROWS_WITH_AS(make_count_posterior(pb.prior, pb.op, pb.noise, y, o), doctest::Contains("probes"), ArgumentError);
  o.probes = 4;
  o.clip = -1;
  CHECK_THROWS_WITH_AS(make_count_posterior(pb.prior, pb.op, pb.noise, y, o), doctest::Contains("clip"), ArgumentError);
}

TEST_CASE("ess: split R-hat and effective sample size on iid, autocorrelated and unmixed chains") {
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal;
  const int chains = 4, length = 4000;
  std::vector<double> iid(chains * length), ar(chains * length), apart(chains * length);
  const double rho = 0.8;
  for (int c = 0; c < chains; ++c) {
    double state = normal(gen);
    for (int i = 0; i < length; ++i) {
      iid[std::size_t(c * length + i)] = normal(gen);
      state = rho * state + std::sqrt(1 - rho * rho) * normal(gen);
      ar[std::size_t(c * length + i)] = state;
      apart[std::size_t(c * length + i)] = normal(gen) + (c == 0 ? 1.0 : 0.0);
    }
  }
  CHECK(split_rhat(iid, chains) < 1.01);
  CHECK(effective_sample_size(iid, chains) == doctest::Approx(chains * length).epsilon(0.15));
  // AR(1): the integrated autocorrelation time is (1 + rho) / (1 - rho) = 9.
  CHECK(effective_sample_size(ar, chains) == doctest::Approx(chains * length / 9.0).epsilon(0.25));
  CHECK(split_rhat(apart, chains) > 1.05);
}

TEST_CASE("ess: a Gaussian likelihood gives the closed-form posterior; Poisson in one and two dimensions the quadrature posterior") {
  Context& ctx = test::context();
  Problem pb = make_problem("poisson-matrix");
  auto& prior = static_cast<const GaussianDenoiser&>(*pb.prior);
  EssOptions o;
  o.chains = 4, o.iterations = 3000, o.burn_in = 300;
  for (EssEllipse ellipse : {EssEllipse::prior, EssEllipse::laplace}) {
  CAPTURE(ellipse_name(ellipse));
  o.ellipse = ellipse;
  {
    // y = A x + n, n ~ N(0, 0.3^2): mean mu + S A^T G^-1 (y - A mu), G = A S A^T + 0.09 I.
    const std::int64_t k = pb.out, d = pb.d;
    Likelihood lik(pb.op, make_gaussian_noise(0.3));
    std::vector<double> yv{0.3, -0.5, 0.1, 0.8, -0.2, 0.4};
    Matrix as = test::multiply_dense(pb.a, pb.s, k, d, d);
    Matrix g = test::multiply_dense(as, test::transpose_dense(pb.a, k, d), k, d, k);
    for (std::int64_t i = 0; i < k; ++i) g[std::size_t(i * k + i)] += 0.09;
    std::vector<double> r = yv, amu = test::multiply_dense(pb.a, pb.mu, k, d, 1);
    for (std::int64_t i = 0; i < k; ++i) r[std::size_t(i)] -= amu[std::size_t(i)];
    std::vector<double> w = test::solve_dense(g, r, k, 1), mean = pb.mu;
    Matrix gas = test::solve_dense(g, as, k, d);
    std::vector<double> var(static_cast<std::size_t>(d));
    for (std::int64_t j = 0; j < d; ++j) {
      var[std::size_t(j)] = pb.s[std::size_t(j * d + j)];
      for (std::int64_t i = 0; i < k; ++i)
        mean[std::size_t(j)] += as[std::size_t(i * d + j)] * w[std::size_t(i)], var[std::size_t(j)] -= as[std::size_t(i * d + j)] * gas[std::size_t(i * d + j)];
    }
    EssReport report;
    Tensor draws = elliptical_slice_sampling(ctx, prior, lik, test::upload(yv, {1, k}), o, 17, &report);
    std::vector<double> x = test::download(draws);
    const std::int64_t count = std::int64_t(x.size()) / d;
    CHECK(count == 4 * 2700);
    CHECK(report.rhat[0] < 1.02);
    CHECK(report.stuck_iterations == 0);
    CHECK(report.ellipse == ellipse);
    if (ellipse == EssEllipse::prior) {
      CHECK(report.ess[0] > 400);  // 667 measured: ESS mixes slower where the data pin x down
    } else {
      // The Laplace approximation of a Gaussian likelihood is the posterior itself: the sliced ratio is
      // constant, every first proposal lands, and a uniform angle makes successive draws uncorrelated.
      CHECK(report.shrinks_per_iteration == 0);
      CHECK(report.ess[0] > 0.7 * double(count));
    }
    for (std::int64_t j = 0; j < d; ++j) {
      double m = 0, v = 0;
      for (std::int64_t i = 0; i < count; ++i) m += x[std::size_t(i * d + j)] / double(count);
      for (std::int64_t i = 0; i < count; ++i) v += std::pow(x[std::size_t(i * d + j)] - m, 2) / double(count - 1);
      CAPTURE(j);
      CHECK(std::abs(m - mean[std::size_t(j)]) < 5 * std::sqrt(var[std::size_t(j)] / report.ess[0]));
      CHECK(v == doctest::Approx(var[std::size_t(j)]).epsilon(0.12));
    }
  }
  {
    // One dimension: x ~ N(0.3, 0.8), y = 5 ~ Poisson(2 e^x). The posterior by the trapezoid rule.
    GaussianPrior g;
    g.kind = GaussianPrior::Covariance::dense;
    g.item_shape = Shape{1};
    g.mean = {0.3};
    g.cov = {0.8};
    GaussianDenoiser one(g, std::make_unique<test::TrigProcess>(), test::device());
    Signal in{{1}, DType::f32};
    Likelihood lik(std::shared_ptr<const Operator>(make_identity(in)), make_poisson_noise(2.0, Link::exp));
    double z = 0, m1 = 0, m2 = 0;
    for (int i = 0; i <= 20000; ++i) {
      double x = -8 + 16.0 * i / 20000, w = (i == 0 || i == 20000 ? 0.5 : 1.0);
      double p = w * std::exp(-0.5 * (x - 0.3) * (x - 0.3) / 0.8 + 5 * (std::log(2.0) + x) - 2 * std::exp(x));
      z += p, m1 += p * x, m2 += p * x * x;
    }
    double mean = m1 / z, var = m2 / z - mean * mean;
    EssReport report;
    std::vector<double> x = test::download(elliptical_slice_sampling(ctx, one, lik, test::upload(std::vector<double>{5.0}, Shape{1, 1}), o, 3, &report));
    double m = 0, v = 0;
    for (double s : x) m += s / double(x.size());
    for (double s : x) v += (s - m) * (s - m) / double(x.size() - 1);
    CHECK(report.rhat[0] < 1.01);
    CHECK(std::abs(m - mean) < 5 * std::sqrt(var / report.ess[0]));
    CHECK(v == doctest::Approx(var).epsilon(0.1));
  }
  {
    // Two dimensions, correlated: x ~ N((0.2, -0.4), [[1, 0.7], [0.7, 0.9]]), y = (0, 14) ~ Poisson(3 e^x)
    // (one entry pushed low, one high). Posterior moments by the trapezoid rule on a 600 x 600 grid.
    GaussianPrior g;
    g.kind = GaussianPrior::Covariance::dense;
    g.item_shape = Shape{2};
    g.mean = {0.2, -0.4};
    g.cov = {1.0, 0.7, 0.7, 0.9};
    GaussianDenoiser two(g, std::make_unique<test::TrigProcess>(), test::device());
    Likelihood lik(std::shared_ptr<const Operator>(make_identity(Signal{{2}, DType::f32})), make_poisson_noise(3.0, Link::exp));
    const double det = 1.0 * 0.9 - 0.7 * 0.7, p00 = 0.9 / det, p11 = 1.0 / det, p01 = -0.7 / det;
    const double y0 = 0, y1 = 14;
    double z = 0, m[2] = {0, 0}, q[3] = {0, 0, 0};
    const int n = 600;
    for (int i = 0; i <= n; ++i)
      for (int j = 0; j <= n; ++j) {
        double a = -7 + 10.0 * i / n, b = -5 + 10.0 * j / n, da = a - 0.2, db = b + 0.4;
        double w = (i == 0 || i == n ? 0.5 : 1.0) * (j == 0 || j == n ? 0.5 : 1.0);
        double lp = -0.5 * (p00 * da * da + 2 * p01 * da * db + p11 * db * db) + y0 * a + y1 * b - 3 * std::exp(a) - 3 * std::exp(b);
        double p = w * std::exp(lp);
        z += p, m[0] += p * a, m[1] += p * b, q[0] += p * a * a, q[1] += p * a * b, q[2] += p * b * b;
      }
    const double mean[2] = {m[0] / z, m[1] / z};
    const double var[2] = {q[0] / z - mean[0] * mean[0], q[2] / z - mean[1] * mean[1]}, cov01 = q[1] / z - mean[0] * mean[1];
    EssReport report;
    std::vector<double> x = test::download(elliptical_slice_sampling(ctx, two, lik, test::upload(std::vector<double>{y0, y1}, Shape{1, 2}), o, 9, &report));
    const std::size_t count = x.size() / 2;
    double s[2] = {0, 0}, s2[3] = {0, 0, 0};
    for (std::size_t i = 0; i < count; ++i) s[0] += x[2 * i], s[1] += x[2 * i + 1];
    for (double& v : s) v /= double(count);
    for (std::size_t i = 0; i < count; ++i) {
      double a = x[2 * i] - s[0], b = x[2 * i + 1] - s[1];
      s2[0] += a * a / double(count - 1), s2[1] += a * b / double(count - 1), s2[2] += b * b / double(count - 1);
    }
    CHECK(report.rhat[0] < 1.01);
    for (int e = 0; e < 2; ++e) {
      CAPTURE(e);
      CHECK(std::abs(s[e] - mean[e]) < 5 * std::sqrt(var[e] / report.ess[0]));
    }
    CHECK(s2[0] == doctest::Approx(var[0]).epsilon(0.1));
    CHECK(s2[2] == doctest::Approx(var[1]).epsilon(0.1));
    CHECK(s2[1] == doctest::Approx(cov01).epsilon(0.15));
  }
  }
}

TEST_CASE("ess: auto takes the Laplace ellipse where it exists and the prior's elsewhere; laplace is refused with the reason") {
  Context& ctx = test::context();
  GaussianPrior g;
  g.kind = GaussianPrior::Covariance::diagonal;
  g.item_shape = Shape{1, 4, 4};
  g.mean.assign(16, 0.0);
  g.var.assign(16, 1.0);
  GaussianDenoiser prior(g, std::make_unique<test::TrigProcess>(), test::device());
  const Signal in{{1, 4, 4}, DType::f32};
  Likelihood counts(std::shared_ptr<const Operator>(make_identity(in)), make_poisson_noise(2.0, Link::exp));
  Likelihood phase(std::shared_ptr<const Operator>(make_phase_retrieval(in, 2, test::device())), make_gaussian_noise(0.1));
  CHECK(resolve_ellipse(EssEllipse::automatic, prior, counts) == EssEllipse::laplace);
  CHECK(resolve_ellipse(EssEllipse::automatic, prior, phase) == EssEllipse::prior);
  EssOptions o;
  o.ellipse = EssEllipse::laplace;
  o.iterations = 10, o.burn_in = 2;
  Tensor y = phase.op().make_output(1, test::device());
  fill(ctx, y, 0.5f);
  CHECK_THROWS_WITH_AS(elliptical_slice_sampling(ctx, prior, phase, y, o, 1), doctest::Contains("is not linear"), ArgumentError);
  CHECK_THROWS_WITH_AS(parse_ellipse("sideways"), doctest::Contains("auto, prior or laplace"), ArgumentError);
}

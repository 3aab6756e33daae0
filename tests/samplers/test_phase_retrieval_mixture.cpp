// Nonlinear MMPS (the operator linearized at E[x | x_t], mmps.h) against DPS and DAPS on real phase
// retrieval, y = |M x| + noise, under 2-D Gaussian-mixture priors. The posterior is multimodal (x and
// -x explain y alike) and has no closed form, so the reference is quadrature: the posterior density on
// a fine grid, exact draws from it, and the component weights of those draws. Equal budgets of
// network calls per sample; DPS's zeta and DAPS's lr tuned held out (best on the other instances).
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "samplers/distances.h"
#include "samplers/mixture_fixtures.h"
#include "samplers/mixture_problems.h"
#include "samplers/noise/noise_model.h"
#include "samplers/posterior/solve.h"
#include "samplers/processes.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

// y = |M x| entrywise for x (2), M (m x 2), on the host. Its derivative sign(M x) M is taken as 0 where
// M x = 0 (a set of measure zero).
class AbsMatrix final : public Operator {
 public:
  AbsMatrix(std::vector<double> m, std::int64_t rows)
      : Operator(Signal{{2}, DType::f32}, Signal{{rows}, DType::f32}), m_(std::move(m)), rows_(rows) {}
  std::string describe() const override { return "abs-matrix"; }
  bool is_linear() const override { return false; }
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    std::vector<double> z = times(test::download(x), batch_of_input(ctx, x));
    for (double& v : z) v = std::abs(v);
    y.copy_from(test::upload(z, y.shape()));
  }
  void jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const override {
    const std::vector<double> z = times(test::download(x), batch_of_input(ctx, x));
    std::vector<double> d = times(test::download(dx), batch_of_input(ctx, dx, "dx"));
    for (std::size_t i = 0; i < d.size(); ++i) d[i] *= sign(z[i]);
    dy.copy_from(test::upload(d, dy.shape()));
  }
  void vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const override {
    const std::int64_t n = batch_of_input(ctx, x);
    const std::vector<double> z = times(test::download(x), n), g = test::download(dy);
    std::vector<double> out(std::size_t(2 * n), 0.0);
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t r = 0; r < rows_; ++r)
        for (std::int64_t j = 0; j < 2; ++j)
          out[std::size_t(b * 2 + j)] += m_[std::size_t(r * 2 + j)] * sign(z[std::size_t(b * rows_ + r)]) * g[std::size_t(b * rows_ + r)];
    dx.copy_from(test::upload(out, dx.shape()));
  }
  double row_value(std::int64_t r, double x0, double x1) const { return std::abs(m_[std::size_t(r * 2)] * x0 + m_[std::size_t(r * 2 + 1)] * x1); }

 private:
  static double sign(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }
  std::vector<double> times(const std::vector<double>& x, std::int64_t n) const {
    std::vector<double> z(std::size_t(n * rows_), 0.0);
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t r = 0; r < rows_; ++r)
        z[std::size_t(b * rows_ + r)] = m_[std::size_t(r * 2)] * x[std::size_t(b * 2)] + m_[std::size_t(r * 2 + 1)] * x[std::size_t(b * 2 + 1)];
    return z;
  }
  std::vector<double> m_;
  std::int64_t rows_;
};

// log of a 2-D Gaussian mixture's density at (x0, x1), in double.
double log_prior(const MixturePrior& p, double x0, double x1) {
  double total = 0;
  for (std::int64_t k = 0; k < p.components(); ++k) {
    const double* c = &p.covs[std::size_t(k * 4)];
    const double det = c[0] * c[3] - c[1] * c[2];
    const double u = x0 - p.means[std::size_t(2 * k)], v = x1 - p.means[std::size_t(2 * k + 1)];
    const double q = (c[3] * u * u - (c[1] + c[2]) * u * v + c[0] * v * v) / det;
    total += p.weights[std::size_t(k)] * std::exp(-0.5 * q) / (2 * M_PI * std::sqrt(det));
  }
  return std::log(std::max(total, 1e-300));
}

struct Instance {
  std::shared_ptr<MixtureDenoiser> prior;
  std::shared_ptr<AbsMatrix> op;
  std::shared_ptr<NoiseModel> noise;
  Tensor y;
  std::vector<double> exact;  // exact posterior draws (n x 2)
  std::vector<double> exact_fractions;
};

// An instance: M (m x 2) with N(0, 1) entries, a truth from the prior, y = |M x*| + sigma_y n, and n
// draws from the posterior on a 700 x 700 grid over the prior's bulk (each cell's mass, then uniform
// within the cell).
Instance make_instance(const MixturePrior& prior, std::int64_t m, double sigma_y, std::uint64_t seed, std::int64_t n) {
  Instance in;
  in.prior = std::make_shared<MixtureDenoiser>(prior, std::make_unique<VpProcess>(), test::device());
  std::mt19937_64 gen(seed * 7919 + 3);
  std::normal_distribution<double> normal;
  std::vector<double> mv(std::size_t(m * 2));
  for (double& v : mv) v = normal(gen);
  in.op = std::make_shared<AbsMatrix>(mv, m);
  in.noise = make_gaussian_noise(sigma_y);
  Tensor truth = Tensor::empty({1, 2}, test::device());
  in.prior->sample_prior(test::context(), 100 + seed, truth);
  const std::vector<double> x = test::download(truth);
  std::vector<double> y(static_cast<std::size_t>(m));
  for (std::int64_t r = 0; r < m; ++r) y[std::size_t(r)] = in.op->row_value(r, x[0], x[1]) + sigma_y * normal(gen);
  in.y = test::upload(y, {1, m});

  double lo = 1e300, hi = -1e300;
  for (std::int64_t k = 0; k < prior.components(); ++k)
    for (int j = 0; j < 2; ++j) {
      const double mean = prior.means[std::size_t(2 * k + j)], sd = std::sqrt(prior.covs[std::size_t(k * 4 + j * 3)]);
      lo = std::min(lo, mean - 6 * sd), hi = std::max(hi, mean + 6 * sd);
    }
  const int cells = 700;
  const double h = (hi - lo) / cells;
  std::vector<double> logp(std::size_t(cells * cells));
  double top = -1e300;
  for (int i = 0; i < cells; ++i)
    for (int j = 0; j < cells; ++j) {
      const double x0 = lo + (i + 0.5) * h, x1 = lo + (j + 0.5) * h;
      double ll = log_prior(prior, x0, x1);
      for (std::int64_t r = 0; r < m; ++r) ll -= 0.5 * std::pow((y[std::size_t(r)] - in.op->row_value(r, x0, x1)) / sigma_y, 2);
      logp[std::size_t(i * cells + j)] = ll;
      top = std::max(top, ll);
    }
  std::vector<double> cdf(logp.size());
  double total = 0;
  for (std::size_t c = 0; c < logp.size(); ++c) cdf[c] = total += std::exp(logp[c] - top);
  std::uniform_real_distribution<double> uniform(0, 1);
  for (std::int64_t s = 0; s < n; ++s) {
    const std::size_t c = std::size_t(std::lower_bound(cdf.begin(), cdf.end(), uniform(gen) * total) - cdf.begin());
    in.exact.push_back(lo + (double(c / cells) + uniform(gen)) * h);
    in.exact.push_back(lo + (double(c % cells) + uniform(gen)) * h);
  }
  in.exact_fractions = test::component_fractions(*in.prior, test::upload(in.exact, {n, 2}));
  return in;
}

struct Score {
  double sw = 0, weights = 0, calls = 0;
};

Score run(const Instance& in, const std::string& method, int budget, double tuned, std::int64_t n) {
  SolveOptions o;
  o.method = method;
  o.seed = 9;
  o.sampler.kind = "ddpm";
  o.sampler.steps = method == "daps" ? budget : budget / 2;
  o.mmps.krylov.max_iterations = 1;
  if (method == "dps") o.dps.zeta = tuned;
  if (method == "daps") o.daps.lr = tuned, o.daps.langevin_steps = 20;
  Context& ctx = test::context();
  const SolveProblem problem{in.prior, in.op, in.noise, in.y};
  check_solve_problem(ctx, o, problem, method);
  const std::int64_t before = in.prior->forward_count + in.prior->jvp_count + in.prior->vjp_count;
  Tensor x;
  try {
    x = solve_rows(ctx, o, problem, n, 0, n);
  } catch (const NumericError&) {
    return {1e300, 1, 0};
  }
  Score s;
  s.sw = test::sliced_wasserstein(test::download(x), in.exact, 2);
  const std::vector<double> f = test::component_fractions(*in.prior, x);
  for (std::size_t k = 0; k < f.size(); ++k) s.weights += 0.5 * std::abs(f[k] - in.exact_fractions[k]);
  s.calls = double(in.prior->forward_count + in.prior->jvp_count + in.prior->vjp_count - before) / double(n);
  return s;
}

struct Row {
  std::string method;
  std::vector<double> tuning;
  Score mean;
};

// Mean scores over the instances, step sizes chosen held out.
std::vector<Row> compare(const MixturePrior& prior, std::int64_t m, double sigma_y, int budget, int instances, std::int64_t n, double& floor,
                         double& prior_sw) {
  std::vector<Instance> ins;
  for (int i = 0; i < instances; ++i) ins.push_back(make_instance(prior, m, sigma_y, std::uint64_t(i), n));
  std::vector<Row> rows = {{"mmps", {0}, {}}, {"dps", {0.03, 0.1, 0.3, 1.0, 3.0}, {}}, {"daps", {0.1, 0.3, 0.6, 1.0}, {}}};
  for (Row& row : rows) {
    std::vector<std::vector<Score>> runs;
    for (double v : row.tuning) {
      runs.emplace_back();
      for (const Instance& in : ins) runs.back().push_back(run(in, row.method, budget, v, n));
    }
    for (int i = 0; i < instances; ++i) {
      const std::size_t best = test::held_out_choice(runs.size(), instances, i, [&](std::size_t v, int j) { return runs[v][std::size_t(j)].sw; });
      const Score& s = runs[best][std::size_t(i)];
      row.mean.sw += s.sw / instances, row.mean.weights += s.weights / instances, row.mean.calls += s.calls / instances;
    }
  }
  // The floor: SW2 between the first instance's exact draws and the next n of the same grid.
  const Instance longer = make_instance(prior, m, sigma_y, 0, 2 * n);
  floor = test::sliced_wasserstein(std::vector<double>(longer.exact.begin() + 2 * n, longer.exact.end()), ins[0].exact, 2);
  // What ignoring y scores: prior draws against each instance's posterior.
  Tensor draws = Tensor::empty({n, 2}, test::device());
  ins[0].prior->sample_prior(test::context(), 77, draws);
  prior_sw = 0;
  for (const Instance& in : ins) prior_sw += test::sliced_wasserstein(test::download(draws), in.exact, 2) / instances;
  return rows;
}

}  // namespace

TEST_SUITE("slow") {
TEST_CASE("real phase retrieval on 2-D mixtures: nonlinear MMPS against DPS and DAPS at equal budgets, against quadrature") {
  struct Family {
    const char* name;
    MixturePrior prior;
  };
  const Family families[] = {{"ring", test::ring_mixture(2, {0.5, 0.3, 0.2})}, {"grid", test::grid_mixture(2)}};
  for (const Family& f : families) {
    CAPTURE(std::string(f.name));
    double floor = 0, prior_sw = 0;
    const int budget = 100;
    const std::vector<Row> rows = compare(f.prior, 3, 0.1, budget, 3, 1000, floor, prior_sw);
    std::string line = cat(f.name, " 2-D, y = |M x| + noise (3 rows, sigma_y 0.1), ", budget, " calls per sample, 3 instances of 1000 samples; ",
                           "SW2 floor ", floor, ", prior ", prior_sw);
    for (const Row& r : rows) line += cat("\n  ", r.method, ": SW2 ", r.mean.sw, ", weight error ", r.mean.weights, ", calls ", r.mean.calls);
    MESSAGE(line);
    for (const Row& r : rows) {
      CAPTURE(r.method);
      // MMPS and DPS use y (measured on the ring: 1.46 and 1.52 against the prior's 1.77; all three put
      // mass on the -x mode the exact posterior hardly has). DAPS with 20 Langevin steps per level is
      // at the prior's distance on the ring (1.73) and is only recorded.
      if (r.method != "daps") CHECK(r.mean.sw < 0.95 * prior_sw);
      CHECK(r.mean.calls <= budget + 2);
    }
  }
}
}

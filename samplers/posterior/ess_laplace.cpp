// Elliptical slice sampling on the ellipses of each observation's Laplace approximation (ess.h explains
// the choice; laplace.h the whitened coordinates). Per observation, all its chains at once: x = mu + R w,
// w = m + b, u = L^T b, and for a fresh nu ~ N(0, I), c = L^-T nu. The proposal at angle theta is
//
//   b(theta) = b cos + c sin,   u(theta) = u cos + nu sin,   z(theta) = A mu + B m + (B b) cos + (B c) sin,
//
// and the sliced function is the exact log posterior in w minus the log density of N(m, P^-1):
//
//   f(theta) = log p(y | z(theta)) - |m + b(theta)|^2 / 2 + |u(theta)|^2 / 2,
//
// whose two quadratics expand into dot products formed once per iteration. So a proposal costs one
// likelihood over K entries, and an iteration three products with the fresh direction (L^-T nu,
// R c, B c). R b and B b follow b by the same linear update as b itself.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "kernels/random.h"
#include "runtime/error.h"
#include "samplers/posterior/ess.h"
#include "samplers/posterior/laplace.h"

namespace tweedie::samplers::detail {
namespace {

// Philox key of the overdispersed starting points, apart from the per-iteration directions (seed + 1 + it).
constexpr std::uint64_t kStartKey = 0x632be59bd9b4e019ull;

// rows (n x cols) <- rows L^-T (each row c^T = nu^T L^-1, i.e. c = L^-T nu); L lower, dim x dim.
void solve_transposed(const std::vector<double>& lower, int dim, int rows, std::vector<double>& x) {
  cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, rows, dim, 1.0, lower.data(), dim, x.data(), dim);
}

// out (rows x m) = x (rows x dim) M^T for M (m x dim).
void times_transpose(const std::vector<double>& x, int rows, int dim, const std::vector<double>& matrix, int m,
                     std::vector<double>& out) {
  out.assign(std::size_t(rows) * std::size_t(m), 0.0);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, m, dim, 1.0, x.data(), dim, matrix.data(), dim, 0.0, out.data(), m);
}

double dot(const double* a, const double* b, int n) { return cblas_ddot(n, a, 1, b, 1); }

}  // namespace

Tensor laplace_ellipse_sampling(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood, const Tensor& y,
                                const EssOptions& o, std::uint64_t seed, EssReport* report) {
  const WhitenedProblem p = whitened_problem(ctx, prior, likelihood, "ess");
  const Operator& op = likelihood.op();
  const std::int64_t observations = op.batch_of_output(ctx, y);
  const int chains = o.chains, dim = int(p.dim), outputs = int(p.outputs);
  const std::int64_t kept = (o.iterations - o.burn_in + o.thin - 1) / o.thin;
  const std::vector<float> y_host = y.to(Device::cpu()).to_vector<float>();  // c64 as float pairs
  std::vector<float> out_host(static_cast<std::size_t>(observations * chains * kept * dim));
  std::int64_t evaluations = 0, shrinks = 0, stuck = 0;
  int newton_most = 0;
  bool converged = true;

  const std::size_t cd = std::size_t(chains) * std::size_t(dim);
  std::vector<double> u(cd), b(cd), rb, bb, nu(cd), c(cd), rc, bc, z(static_cast<std::size_t>(outputs)), yi(static_cast<std::size_t>(outputs));
  std::vector<double> current(static_cast<std::size_t>(chains));
  for (std::int64_t i = 0; i < observations; ++i) {
    for (int k = 0; k < outputs; ++k) yi[std::size_t(k)] = y_host[std::size_t(i * outputs + k)];
    const LaplaceFit fit = fit_laplace(p, yi.data());
    newton_most = std::max(newton_most, fit.iterations);
    converged = converged && fit.converged;
    const std::vector<double>& m = fit.mode;
    // x and z at the mode.
    std::vector<double> x_mode = p.prior_mean, z_mode = p.offset;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, dim, dim, 1.0, p.root.data(), dim, m.data(), 1, 1.0, x_mode.data(), 1);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, outputs, dim, 1.0, p.design.data(), dim, m.data(), 1, 1.0, z_mode.data(), 1);
    const double mm = dot(m.data(), m.data(), dim);
    auto row = [&](int j) { return std::uint64_t(i * chains + j); };
    auto uniform = [&](int j, std::uint64_t index) {
      return std::max(double(uniform_at(seed ^ kUniformKey, row(j), index)), 1e-12);
    };
    auto log_l = [&](const double* zj) {
      ++evaluations;
      return log_likelihood_kernel(p, yi.data(), zj);
    };

    // Overdispersed start: u ~ N(0, 4 I).
    for (int j = 0; j < chains; ++j)
      for (int e = 0; e < dim; ++e) u[std::size_t(j) * dim + e] = 2 * double(normal_at(seed ^ kStartKey, row(j), std::uint64_t(e)));
    b = u;
    solve_transposed(fit.cholesky, dim, chains, b);
    times_transpose(b, chains, dim, p.root, dim, rb);
    times_transpose(b, chains, dim, p.design, outputs, bb);
    for (int j = 0; j < chains; ++j) {
      const double* bj = b.data() + std::size_t(j) * dim;
      for (int k = 0; k < outputs; ++k) z[std::size_t(k)] = z_mode[std::size_t(k)] + bb[std::size_t(j) * outputs + k];
      const double uu = dot(u.data() + std::size_t(j) * dim, u.data() + std::size_t(j) * dim, dim);
      current[std::size_t(j)] = log_l(z.data()) - 0.5 * (mm + 2 * dot(m.data(), bj, dim) + dot(bj, bj, dim)) + 0.5 * uu;
    }

    for (int it = 0; it < o.iterations; ++it) {
      for (int j = 0; j < chains; ++j)
        for (int e = 0; e < dim; ++e) nu[std::size_t(j) * dim + e] = double(normal_at(seed + 1 + std::uint64_t(it), row(j), std::uint64_t(e)));
      c = nu;
      solve_transposed(fit.cholesky, dim, chains, c);
      times_transpose(c, chains, dim, p.root, dim, rc);
      times_transpose(c, chains, dim, p.design, outputs, bc);
      const std::uint64_t base = std::uint64_t(it) * std::uint64_t(o.max_shrinks + 2);
      for (int j = 0; j < chains; ++j) {
        double* uj = u.data() + std::size_t(j) * dim;
        double* bj = b.data() + std::size_t(j) * dim;
        const double* nj = nu.data() + std::size_t(j) * dim;
        const double* cj = c.data() + std::size_t(j) * dim;
        const double* bbj = bb.data() + std::size_t(j) * outputs;
        const double* bcj = bc.data() + std::size_t(j) * outputs;
        const double uu = dot(uj, uj, dim), un = dot(uj, nj, dim), nn = dot(nj, nj, dim);
        const double mb = dot(m.data(), bj, dim), mc = dot(m.data(), cj, dim);
        const double b2 = dot(bj, bj, dim), bcd = dot(bj, cj, dim), c2 = dot(cj, cj, dim);
        const double level = current[std::size_t(j)] + std::log(uniform(j, base));
        double theta = 2 * std::numbers::pi * uniform(j, base + 1), lo = theta - 2 * std::numbers::pi, hi = theta;
        bool moved = false;
        for (int attempt = 0; attempt < o.max_shrinks; ++attempt) {
          const double cs = std::cos(theta), sn = std::sin(theta);
          for (int k = 0; k < outputs; ++k) z[std::size_t(k)] = z_mode[std::size_t(k)] + cs * bbj[k] + sn * bcj[k];
          const double prior_quad = mm + 2 * (cs * mb + sn * mc) + cs * cs * b2 + 2 * cs * sn * bcd + sn * sn * c2;
          const double reference_quad = cs * cs * uu + 2 * cs * sn * un + sn * sn * nn;
          const double f = log_l(z.data()) - 0.5 * prior_quad + 0.5 * reference_quad;
          if (f > level) {
            current[std::size_t(j)] = f;
            auto rotate = [&](double* a, const double* d, int n) {
              for (int e = 0; e < n; ++e) a[e] = cs * a[e] + sn * d[e];
            };
            rotate(uj, nj, dim);
            rotate(bj, cj, dim);
            rotate(rb.data() + std::size_t(j) * dim, rc.data() + std::size_t(j) * dim, dim);
            rotate(bb.data() + std::size_t(j) * outputs, bcj, outputs);
            moved = true;
            break;
          }
          ++shrinks;
          (theta < 0 ? lo : hi) = theta;
          theta = lo + (hi - lo) * uniform(j, base + 2 + std::uint64_t(attempt));
        }
        if (!moved) ++stuck;
      }
      if (it >= o.burn_in && (it - o.burn_in) % o.thin == 0) {
        const std::int64_t slot = (it - o.burn_in) / o.thin;
        for (int j = 0; j < chains; ++j) {
          float* dst = out_host.data() + std::size_t(((i * chains + j) * kept + slot) * dim);
          for (int e = 0; e < dim; ++e) dst[e] = float(x_mode[std::size_t(e)] + rb[std::size_t(j) * dim + e]);
        }
      }
    }
  }

  Tensor out = Tensor::from_host(std::span<const float>(out_host), batched(observations * chains * kept, prior.item_shape()),
                                 ctx.device());
  if (report) {
    fill_diagnostics(out, observations, chains, *report);
    report->shrinks_per_iteration = double(shrinks) / double(observations * chains * o.iterations);
    report->likelihood_evaluations = evaluations;
    report->stuck_iterations = stuck;
    report->ellipse = EssEllipse::laplace;
    report->laplace_iterations = newton_most;
    report->laplace_converged = converged;
  }
  return out;
}

}  // namespace tweedie::samplers::detail

#include "samplers/gaussian_problems.h"

#include <cmath>
#include <complex>
#include <numbers>
#include <random>

#include "samplers/noise/noise_model.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/operators/image_operators.h"
#include "support.h"

namespace tweedie::test {

using namespace tweedie::samplers;
using Cov = GaussianPrior::Covariance;

Gaussian condition(const Matrix& s, const std::vector<double>& mu, const Matrix& h, const std::vector<double>& o,
                   const std::vector<double>& noise) {
  const auto k = std::int64_t(o.size());
  Matrix r(std::size_t(k * k), 0.0);
  for (std::int64_t i = 0; i < k; ++i) r[std::size_t(i * k + i)] = noise[std::size_t(i)];
  return condition_correlated(s, mu, h, o, r);
}

Gaussian condition_correlated(const Matrix& s, const std::vector<double>& mu, const Matrix& h, const std::vector<double>& o,
                              const Matrix& noise) {
  const auto d = std::int64_t(mu.size()), k = std::int64_t(o.size());
  const Matrix hs = multiply_dense(h, s, k, d, d);  // H S (k x d)
  Matrix g = multiply_dense(hs, transpose_dense(h, k, d), k, d, k);
  for (std::int64_t i = 0; i < k * k; ++i) g[std::size_t(i)] += noise[std::size_t(i)];
  std::vector<double> r = o;
  const std::vector<double> hmu = multiply_dense(h, mu, k, d, 1);
  for (std::int64_t i = 0; i < k; ++i) r[std::size_t(i)] -= hmu[std::size_t(i)];
  const Matrix ginv_hs = solve_dense(g, hs, k, d);  // G^{-1} H S (k x d)
  const std::vector<double> w = solve_dense(g, r, k, 1);
  Gaussian p{mu, s};
  for (std::int64_t j = 0; j < d; ++j)
    for (std::int64_t i = 0; i < k; ++i) {
      p.mean[std::size_t(j)] += hs[i * d + j] * w[std::size_t(i)];
      for (std::int64_t l = 0; l < d; ++l) p.cov[j * d + l] -= hs[i * d + j] * ginv_hs[i * d + l];
    }
  return p;
}

namespace {

// An even power spectrum on (1, h, w) and its covariance F^H diag(p) F.
GaussianPrior stationary_prior(std::int64_t h, std::int64_t w, std::uint64_t seed, Matrix& dense) {
  const std::int64_t d = h * w;
  std::vector<double> q = uniform(std::size_t(d), seed, 0.1, 2.0);
  GaussianPrior p;
  p.kind = Cov::stationary;
  p.item_shape = {1, h, w};
  p.mean = uniform(std::size_t(d), seed + 1, -1, 1);
  p.spectrum.resize(std::size_t(d));
  for (std::int64_t k = 0; k < h; ++k)
    for (std::int64_t l = 0; l < w; ++l) p.spectrum[k * w + l] = 0.5 * (q[k * w + l] + q[(h - k) % h * w + (w - l) % w]);
  dense.assign(std::size_t(d * d), 0.0);
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      double s = 0;
      for (std::int64_t k = 0; k < h; ++k)
        for (std::int64_t l = 0; l < w; ++l)
          s += p.spectrum[k * w + l] *
               std::cos(2 * std::numbers::pi * (double(k * (i / w - j / w)) / h + double(l * (i % w - j % w)) / w));
      dense[i * d + j] = s / double(d);
    }
  return p;
}

}  // namespace

Problem make_problem(const std::string& kind, std::unique_ptr<Process> process) {
  Context& ctx = context();
  const Device dev = device();
  Problem pb;
  GaussianPrior gp;
  Signal in{{1, 8, 8}, DType::f32};
  if (kind == "matrix" || kind == "mask-dense") {
    if (kind == "matrix") in = Signal{{16}, DType::f32};
    pb.d = in.shape.numel();
    gp.kind = Cov::dense;
    gp.item_shape = in.shape;
    gp.mean = uniform(std::size_t(pb.d), 11, -1, 1);
    gp.cov = random_covariance(pb.d, 12);
    pb.s = gp.cov;
  } else if (kind == "white-matrix" || kind == "diagonal-mask") {
    // N(0, I), the prior Pi-GDM's covariance is exact for; a diagonal prior, which TMPD's is exact for
    // under a mask.
    if (kind == "white-matrix") in = Signal{{16}, DType::f32};
    pb.d = in.shape.numel();
    gp.kind = Cov::diagonal;
    gp.item_shape = in.shape;
    gp.mean = kind == "white-matrix" ? std::vector<double>(std::size_t(pb.d), 0.0) : uniform(std::size_t(pb.d), 11, -1, 1);
    gp.var = kind == "white-matrix" ? std::vector<double>(std::size_t(pb.d), 1.0) : uniform(std::size_t(pb.d), 12, 0.2, 2.0);
    pb.s.assign(std::size_t(pb.d * pb.d), 0.0);
    for (std::int64_t i = 0; i < pb.d; ++i) pb.s[std::size_t(i * pb.d + i)] = gp.var[std::size_t(i)];
  } else {
    pb.d = 64;
    gp = stationary_prior(8, 8, 13, pb.s);
  }
  pb.mu = gp.mean;
  pb.prior = std::make_shared<GaussianDenoiser>(gp, std::move(process), dev);
  if (kind == "matrix" || kind == "white-matrix") {
    pb.op = make_matrix(in, upload(uniform(std::size_t(8 * pb.d), 14), {8, pb.d}), "matrix", dev);
  } else if (kind == "mri") {
    pb.op = make_mri(in, mask_random_columns(8, 8, 2.0, 2, 15), Tensor(), "mri", dev);
  } else {
    pb.op = make_mask(in, random_pixel_mask({1, 8, 8}, 0.5, false, 16), "inpaint", dev);
  }
  pb.noise_var = 0.05;
  pb.variance = make_gaussian_noise(std::sqrt(pb.noise_var))->gaussian_variance(ctx, pb.op->output().shape);

  // The operator's matrix: its outputs for the unit vectors, kept on the measured (real) entries.
  const bool complex = pb.op->output().dtype == DType::c64;
  const std::int64_t out = pb.op->output().shape.numel(), parts = complex ? 2 : 1;
  pb.y_dim = int(out * parts);
  std::vector<double> eye(std::size_t(pb.d * pb.d), 0.0);
  for (std::int64_t i = 0; i < pb.d; ++i) eye[i * pb.d + i] = 1;
  Tensor units = upload(eye, batched(pb.d, in.shape)), images = pb.op->make_output(pb.d, dev);
  pb.op->apply(ctx, units, images);
  std::vector<double> cols = complex ? std::vector<double>() : download(images);
  if (complex)
    for (auto z : download_complex(images)) cols.push_back(z.real()), cols.push_back(z.imag());
  std::vector<double> seen(std::size_t(out), 1.0);
  if (pb.op->observed().defined()) seen = download(pb.op->observed().to(dev));
  std::vector<std::int64_t> rows;  // measured real entries
  for (std::int64_t e = 0; e < out * parts; ++e)
    if (seen[std::size_t(e / parts)] != 0) rows.push_back(e);
  for (std::int64_t e : rows)
    for (std::int64_t j = 0; j < pb.d; ++j) pb.a.push_back(cols[std::size_t(j * out * parts + e)]);

  // y = A x + n for an x near the prior's mean, zero where nothing is measured.
  std::vector<double> x = pb.mu, noise = uniform(std::size_t(out * parts), 17);
  std::vector<double> yv = multiply_dense(pb.a, x, std::int64_t(rows.size()), pb.d, 1);
  std::vector<double> full(std::size_t(out * parts), 0.0);
  std::mt19937_64 gen(18);
  std::normal_distribution<double> normal;
  for (std::size_t r = 0; r < rows.size(); ++r) full[std::size_t(rows[r])] = yv[r] + std::sqrt(pb.noise_var) * normal(gen);
  Shape yshape = batched(1, pb.op->output().shape);
  if (complex) {
    std::vector<std::complex<double>> z;
    for (std::int64_t e = 0; e < out; ++e) z.emplace_back(full[std::size_t(2 * e)], full[std::size_t(2 * e + 1)]);
    pb.y = upload(z, yshape);
    full.clear();
    for (auto v : download_complex(pb.y)) full.push_back(v.real()), full.push_back(v.imag());
  } else {
    pb.y = upload(full, yshape);
    full = download(pb.y);
  }
  for (std::int64_t e : rows) pb.obs.push_back(full[std::size_t(e)]);
  return pb;
}

std::vector<double> exact_denoiser(const Problem& pb, const std::vector<double>& xt, double alpha, double sigma) {
  const auto k = std::int64_t(pb.obs.size());
  Matrix h(std::size_t((pb.d + k) * pb.d), 0.0);
  for (std::int64_t i = 0; i < pb.d; ++i) h[i * pb.d + i] = alpha;
  std::copy(pb.a.begin(), pb.a.end(), h.begin() + pb.d * pb.d);
  std::vector<double> o = xt, noise(std::size_t(pb.d), sigma * sigma);
  o.insert(o.end(), pb.obs.begin(), pb.obs.end());
  noise.resize(std::size_t(pb.d + k), pb.noise_var);
  return condition(pb.s, pb.mu, h, o, noise).mean;
}

Gaussian exact_posterior(const Problem& pb) {
  return condition(pb.s, pb.mu, pb.a, pb.obs, std::vector<double>(pb.obs.size(), pb.noise_var));
}

double denoiser_error(const Problem& pb, const Denoiser& d, const DenoiserReference& want) {
  Context& ctx = context();
  double worst = 0;
  for (double t : {0.05, 0.3, 0.6, 0.9}) {
    const double a = pb.prior->process().alpha(t), s = pb.prior->process().sigma(t);
    const std::int64_t n = 3;
    std::vector<double> xt = as_float(uniform(std::size_t(n * pb.d), 19, -2, 2));
    Shape shape = batched(n, pb.prior->item_shape());
    Tensor x0 = Tensor::empty(shape, device());
    d.denoise(ctx, upload(xt, shape), t, x0);
    std::vector<double> got = download(x0), all;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::vector<double> one(xt.begin() + i * pb.d, xt.begin() + (i + 1) * pb.d);
      const std::vector<double> w = want ? want(one, a, s) : exact_denoiser(pb, one, a, s);
      all.insert(all.end(), w.begin(), w.end());
    }
    worst = std::max(worst, max_relative_error(got, all));
  }
  return worst;
}

MomentError moment_error(const std::vector<double>& x, const Gaussian& p, std::int64_t d) {
  const auto n = std::int64_t(x.size()) / d;
  std::vector<double> m(std::size_t(d), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i) m[std::size_t(i)] += x[std::size_t(r * d + i)] / double(n);
  MomentError e;
  double diff = 0, norm = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    e.mean += std::pow(m[std::size_t(i)] - p.mean[std::size_t(i)], 2) / p.cov[std::size_t(i * d + i)] / double(d);
    for (std::int64_t j = 0; j < d; ++j) {
      double c = 0;
      for (std::int64_t r = 0; r < n; ++r)
        c += (x[std::size_t(r * d + i)] - m[std::size_t(i)]) * (x[std::size_t(r * d + j)] - m[std::size_t(j)]) / double(n - 1);
      diff += std::pow(c - p.cov[std::size_t(i * d + j)], 2), norm += std::pow(p.cov[std::size_t(i * d + j)], 2);
    }
  }
  e.mean = std::sqrt(e.mean);
  e.cov = std::sqrt(diff / norm);
  return e;
}

std::vector<double> exact_draws(const Gaussian& p, std::int64_t d, std::int64_t n, std::uint64_t seed) {
  const SymmetricEigen e = symmetric_eigen(p.cov, d);
  const std::vector<double> z = uniform(std::size_t(n * d * 2), seed, 1e-12, 1.0);
  std::vector<double> x(std::size_t(n * d));
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t k = 0; k < d; ++k) {
      // Box-Muller on two uniforms
      const double u1 = z[std::size_t(2 * (r * d + k))], u2 = z[std::size_t(2 * (r * d + k) + 1)];
      const double g = std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2) * std::sqrt(std::max(e.values[std::size_t(k)], 0.0));
      for (std::int64_t i = 0; i < d; ++i) x[std::size_t(r * d + i)] += g * e.vectors[std::size_t(k * d + i)];
    }
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i) x[std::size_t(r * d + i)] += p.mean[std::size_t(i)];
  return x;
}

MmpsOptions converged(const Problem& pb, const std::string& solver) {
  MmpsOptions o;
  o.solver = solver;
  o.krylov = {.max_iterations = pb.y_dim, .tolerance = 1e-10};
  return o;
}

}  // namespace tweedie::test

#include "samplers/training/gaussian_em.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <span>

#include "kernels/fft.h"
#include "kernels/random.h"
#include "runtime/error.h"
#include "samplers/linalg/cholesky.h"
#include "samplers/operators/stacked_operator.h"

namespace tweedie::samplers {
namespace {

constexpr double kLog2Pi = 1.8378770664093453;

// The observations as real vectors in double: y_i and the noise precision of each real output entry,
// 0 where operator i observes nothing (structural zeros carry no information).
struct Observations {
  std::shared_ptr<const Operator> op;
  const StackedOperator* stacked = nullptr;
  std::int64_t m = 0, d = 0, k = 0;  // observations, unknowns per item, real outputs per item
  bool complex = false;
  std::vector<double> y, precision;  // m x k
  std::vector<double> noise_term;    // per observation: sum over observed entries of log(2 pi sigma^2)

  const Operator& item(std::int64_t i) const { return stacked ? stacked->item(i) : *op; }
};

Observations read_observations(const std::shared_ptr<const Operator>& op, const Tensor& y, const Tensor& noise_variance) {
  Observations o;
  o.op = op;
  o.stacked = dynamic_cast<const StackedOperator*>(op.get());
  const std::string name = cat("Gaussian EM: operator '", op->describe(), "'");
  if (!op->is_linear()) throw ArgumentError(cat(name, " is nonlinear; the closed-form Gaussian EM needs a linear one"));
  if (op->input().dtype != DType::f32) throw DTypeError(cat(name, " takes ", op->input().str(), "; the prior is on real items"));
  if (y.device() != Device::cpu() || noise_variance.device() != Device::cpu()) throw ArgumentError("Gaussian EM: y and the noise variance must be on the host");
  op->check_observations(y, "Gaussian EM");
  o.m = y.dim(0);
  o.d = op->input().shape.numel();
  o.complex = y.dtype() == DType::c64;
  const std::int64_t entries = op->output().shape.numel();
  o.k = entries * (o.complex ? 2 : 1);
  if (o.stacked && o.stacked->count() != o.m)
    throw ShapeError(cat(name, " has ", o.stacked->count(), " operators (one per observation) for ", o.m, " observations"));
  if (!(noise_variance.shape() == op->output().shape) || noise_variance.dtype() != DType::f32)
    throw ShapeError(cat("Gaussian EM: the noise variance is ", noise_variance.str(), "; expected f32 ", op->output().shape.str()));
  std::vector<float> yv = (o.complex ? y.view_as_real() : y).to_vector<float>(), var = noise_variance.to_vector<float>();
  o.y.assign(yv.begin(), yv.end());
  o.precision.assign(std::size_t(o.m * o.k), 0.0);
  o.noise_term.assign(std::size_t(o.m), 0.0);
  std::vector<float> shared_seen = op->observed().defined() && !o.stacked ? op->observed().to_vector<float>() : std::vector<float>();
  for (std::int64_t i = 0; i < o.m; ++i) {
    std::vector<float> seen = o.stacked && o.item(i).observed().defined() ? o.item(i).observed().to_vector<float>() : shared_seen;
    for (std::int64_t e = 0; e < o.k; ++e) {
      const std::int64_t entry = o.complex ? e / 2 : e;
      if (!seen.empty() && seen[std::size_t(entry)] == 0.0f) continue;
      const double v = var[std::size_t(entry)];
      if (!(v > 0)) throw ArgumentError(cat("Gaussian EM: the noise variance of output entry ", entry, " is ", v, "; it must be positive"));
      o.precision[std::size_t(i * o.k + e)] = 1.0 / v;
      o.noise_term[std::size_t(i)] += kLog2Pi + std::log(v);
    }
  }
  return o;
}

// A (rows, item...) f32 tensor from doubles, and back; outputs are read as real vectors.
Tensor to_tensor(const std::vector<double>& v, std::int64_t rows, const Shape& item) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_host(std::span<const float>(f), batched(rows, item));
}
std::vector<double> to_doubles(const Tensor& t) {
  std::vector<float> f = (t.dtype() == DType::c64 ? t.view_as_real() : t).to_vector<float>();
  return {f.begin(), f.end()};
}

// A_i x_i for every observation (x: m x d) and A_i^T r_i (r: m x k real outputs).
std::vector<double> apply_all(Context& ctx, const Observations& o, const std::vector<double>& x) {
  Tensor out = o.op->make_output(o.m, Device::cpu());
  o.op->apply(ctx, to_tensor(x, o.m, o.op->input().shape), out);
  return to_doubles(out);
}
std::vector<double> adjoint_all(Context& ctx, const Observations& o, const std::vector<double>& r) {
  std::vector<std::int64_t> item(o.op->output().shape.dims().begin(), o.op->output().shape.dims().end());
  if (o.complex) item.push_back(2);  // the real view of complex outputs
  Tensor yt = to_tensor(r, o.m, Shape(std::span<const std::int64_t>(item)));
  if (o.complex) yt = yt.view_as_complex();
  Tensor out = o.op->make_input(o.m, Device::cpu());
  o.op->adjoint(ctx, yt, out);
  return to_doubles(out);
}

// A_i^T Sigma^-1 A_i x_i for every observation (x: m x d).
std::vector<double> curvature_times(Context& ctx, const Observations& o, const std::vector<double>& x) {
  std::vector<double> ax = apply_all(ctx, o, x);
  for (std::size_t e = 0; e < ax.size(); ++e) ax[e] *= o.precision[e];
  return adjoint_all(ctx, o, ax);
}

// g_i = A_i^T Sigma^-1 (y_i - A_i mu) and q_i = (y_i - A_i mu)^T Sigma^-1 (y_i - A_i mu): what the posterior of
// every observation under a prior with mean mu needs from the data.
struct WeightedResidual {
  std::vector<double> g;  // m x d
  std::vector<double> q;  // m
};
WeightedResidual weighted_residual(Context& ctx, const Observations& o, const std::vector<double>& mean) {
  std::vector<double> mu(std::size_t(o.m * o.d));
  for (std::int64_t i = 0; i < o.m; ++i) std::copy(mean.begin(), mean.end(), mu.begin() + i * o.d);
  std::vector<double> r = apply_all(ctx, o, mu);
  WeightedResidual w;
  w.q.assign(std::size_t(o.m), 0.0);
  for (std::int64_t i = 0; i < o.m; ++i)
    for (std::int64_t e = 0; e < o.k; ++e) {
      const std::size_t at = std::size_t(i * o.k + e);
      const double residual = o.y[at] - r[at];
      w.q[std::size_t(i)] += o.precision[at] * residual * residual;
      r[at] = o.precision[at] * residual;  // Sigma^-1 (y - A mu), 0 where unobserved
    }
  w.g = adjoint_all(ctx, o, r);
  return w;
}

// The E-step where prior and curvature are both diagonal in one orthonormal basis (pixels: diagonal;
// the unitary DFT: stationary). Per basis entry j, prior variance v_j and curvature h_ij:
//   posterior mean mean_j + v_j g_ij / (1 + v_j h_ij), variance v_j / (1 + v_j h_ij),
//   log p(y_i) = -(1/2) [q_i - sum_j v_j |g_ij|^2 / (1 + v_j h_ij) + sum_j log(1 + v_j h_ij) + noise term]
// (Woodbury and the determinant lemma). T is double, or std::complex<double> for the DFT basis.
template <class T>
struct BasisPass {
  std::vector<double> log_evidence;  // m
  std::vector<T> sum_mean;           // d: sum of the posterior means
  std::vector<double> sum_second;    // d: sum of posterior variance + |posterior mean|^2
};
template <class T>
BasisPass<T> basis_pass(const Observations& o, const std::vector<double>& h, const std::vector<T>& mean, const std::vector<double>& variance,
                        const std::vector<T>& g, const std::vector<double>& q) {
  BasisPass<T> p;
  p.log_evidence.assign(std::size_t(o.m), 0.0);
  p.sum_mean.assign(std::size_t(o.d), T(0));
  p.sum_second.assign(std::size_t(o.d), 0.0);
  for (std::int64_t i = 0; i < o.m; ++i) {
    double quad = q[std::size_t(i)], log_det = 0;
    for (std::int64_t j = 0; j < o.d; ++j) {
      const std::size_t at = std::size_t(i * o.d + j);
      const double v = variance[std::size_t(j)], one_plus = 1.0 + v * h[at];
      quad -= v * std::norm(g[at]) / one_plus;
      log_det += std::log(one_plus);
      const T m = mean[std::size_t(j)] + v * g[at] / one_plus;
      p.sum_mean[std::size_t(j)] += m;
      p.sum_second[std::size_t(j)] += v / one_plus + std::norm(m);
    }
    p.log_evidence[std::size_t(i)] = -0.5 * (quad + log_det + o.noise_term[std::size_t(i)]);
  }
  return p;
}

// ---- diagonal structure ----------------------------------------------------------------------------

// h_i = diag(A_i^T Sigma^-1 A_i), checked to be the whole of that matrix with a random sign probe.
std::vector<double> diagonal_curvature(Context& ctx, const Observations& o) {
  std::vector<double> ones(std::size_t(o.m * o.d), 1.0), probe(ones.size());
  for (std::size_t e = 0; e < probe.size(); ++e) probe[e] = uniform_at(0x9e37, 0, e) < 0.5f ? -1.0 : 1.0;
  std::vector<double> h = curvature_times(ctx, o, ones), hz = curvature_times(ctx, o, probe);
  double largest = 0, off = 0;
  for (double v : h) largest = std::max(largest, std::abs(v));
  for (std::size_t e = 0; e < h.size(); ++e) off = std::max(off, std::abs(hz[e] - h[e] * probe[e]));
  if (off > 1e-4 * std::max(largest, 1e-30))
    throw ArgumentError(cat("Gaussian EM with a diagonal covariance: operator '", o.op->describe(), "' mixes entries (A^T A is not diagonal; ",
                            "off-diagonal part ", off, " against ", largest, "), so the posteriors are not diagonal. The diagonal EM is exact for ",
                            "masks and the identity; use the dense structure for vectors"));
  for (double& v : h) v = std::max(v, 0.0);
  return h;
}

// One pass over the observations under N(mu, diag(var)): log evidences, and the sums of the M-step.
BasisPass<double> diagonal_pass(Context& ctx, const Observations& o, const std::vector<double>& h, const std::vector<double>& mean,
                                const std::vector<double>& var) {
  const WeightedResidual w = weighted_residual(ctx, o, mean);
  return basis_pass(o, h, mean, var, w.g, w.q);
}

// ---- stationary structure --------------------------------------------------------------------------

using Spectrum = std::vector<std::complex<double>>;

// The unitary 2-D DFT of every (H, W) plane of `rows` real items (C, H, W), or its inverse, in f32 (FFTW)
// and back to double.
Spectrum dft_items(Context& ctx, const std::vector<double>& values, std::int64_t rows, const Shape& item) {
  std::vector<float> interleaved(2 * values.size(), 0.0f);
  for (std::size_t e = 0; e < values.size(); ++e) interleaved[2 * e] = float(values[e]);
  std::vector<std::int64_t> dims{rows};
  for (std::int64_t d : item.dims()) dims.push_back(d);
  dims.push_back(2);
  Tensor x = Tensor::from_host(std::span<const float>(interleaved), Shape(std::span<const std::int64_t>(dims))).view_as_complex();
  Tensor y = Tensor::empty(x.shape(), Device::cpu(), DType::c64);
  fft2(ctx, x, y, FftNorm::ortho);
  std::vector<float> f = y.view_as_real().to_vector<float>();
  Spectrum out(values.size());
  for (std::size_t e = 0; e < out.size(); ++e) out[e] = {f[2 * e], f[2 * e + 1]};
  return out;
}
std::vector<double> real_idft_items(Context& ctx, const Spectrum& values, std::int64_t rows, const Shape& item) {
  std::vector<float> interleaved(2 * values.size());
  for (std::size_t e = 0; e < values.size(); ++e) interleaved[2 * e] = float(values[e].real()), interleaved[2 * e + 1] = float(values[e].imag());
  std::vector<std::int64_t> dims{rows};
  for (std::int64_t d : item.dims()) dims.push_back(d);
  dims.push_back(2);
  Tensor x = Tensor::from_host(std::span<const float>(interleaved), Shape(std::span<const std::int64_t>(dims))).view_as_complex();
  Tensor y = Tensor::empty(x.shape(), Device::cpu(), DType::c64);
  ifft2(ctx, x, y, FftNorm::ortho);
  std::vector<float> f = y.view_as_real().to_vector<float>();
  std::vector<double> out(values.size());
  for (std::size_t e = 0; e < out.size(); ++e) out[e] = f[2 * e];
  return out;
}

// h_i, the eigenvalues of A_i^T Sigma^-1 A_i in the DFT basis of each channel, from its response to a
// unit impulse at (0, 0) of every channel (a circulant's first column: eigenvalues sqrt(HW) times its
// DFT), checked against a random sign probe: an operator that is not circulant (masks, coils) or that
// mixes channels is an error that says so.
std::vector<double> stationary_curvature(Context& ctx, const Observations& o) {
  const Shape& item = o.op->input().shape;
  if (item.rank() != 3) throw ArgumentError(cat("Gaussian EM with a stationary covariance needs images (C, H, W), not items ", item.str()));
  const std::int64_t c = item[0], plane = item[1] * item[2];
  std::vector<double> impulse(std::size_t(o.m * o.d), 0.0), probe(impulse.size());
  for (std::int64_t i = 0; i < o.m; ++i)
    for (std::int64_t ch = 0; ch < c; ++ch) impulse[std::size_t(i * o.d + ch * plane)] = 1.0;
  for (std::size_t e = 0; e < probe.size(); ++e) probe[e] = uniform_at(0x57a7, 0, e) < 0.5f ? -1.0 : 1.0;
  Spectrum response = dft_items(ctx, curvature_times(ctx, o, impulse), o.m, item);
  std::vector<double> h(response.size());
  const double scale = std::sqrt(double(plane));
  double largest = 0;
  for (std::size_t e = 0; e < h.size(); ++e) h[e] = std::max(scale * response[e].real(), 0.0), largest = std::max(largest, std::abs(h[e]));
  Spectrum zf = dft_items(ctx, probe, o.m, item);
  for (std::size_t e = 0; e < zf.size(); ++e) zf[e] *= h[e];
  std::vector<double> predicted = real_idft_items(ctx, zf, o.m, item), actual = curvature_times(ctx, o, probe);
  double off = 0, size = 0;
  for (std::size_t e = 0; e < actual.size(); ++e) off = std::max(off, std::abs(actual[e] - predicted[e])), size = std::max(size, std::abs(actual[e]));
  if (off > 1e-3 * std::max(size, 1e-30))
    throw ArgumentError(cat("Gaussian EM with a stationary covariance: operator '", o.op->describe(), "' is not a circular convolution of each ",
                            "channel (A^T A is not diagonal in the Fourier basis; mismatch ", off, " against ", size, "), so the posteriors are ",
                            "not stationary. The stationary EM is exact for single-coil Cartesian MRI and circular blur; use diagonal for masks, ",
                            "dense for small items"));
  return h;
}

// The same in the DFT basis of each channel, with p the spectrum.
BasisPass<std::complex<double>> stationary_pass(Context& ctx, const Observations& o, const std::vector<double>& h, const std::vector<double>& mean,
                                                const std::vector<double>& spectrum) {
  const Shape& item = o.op->input().shape;
  const WeightedResidual w = weighted_residual(ctx, o, mean);
  return basis_pass(o, h, dft_items(ctx, mean, 1, item), spectrum, dft_items(ctx, w.g, o.m, item), w.q);
}

// p[c, k, l] and p[c, -k, -l] averaged: what makes the covariance real, up to the FFT's rounding.
void make_even(std::vector<double>& spectrum, const Shape& item) {
  const std::int64_t c = item[0], h = item[1], w = item[2];
  std::vector<double> even(spectrum.size());
  for (std::int64_t ch = 0; ch < c; ++ch)
    for (std::int64_t k = 0; k < h; ++k)
      for (std::int64_t l = 0; l < w; ++l)
        even[std::size_t((ch * h + k) * w + l)] =
            0.5 * (spectrum[std::size_t((ch * h + k) * w + l)] + spectrum[std::size_t((ch * h + (h - k) % h) * w + (w - l) % w)]);
  spectrum = std::move(even);
}

// ---- dense structure -------------------------------------------------------------------------------

// Whitened explicit operators: rows Sigma^-1/2 A_i and data Sigma^-1/2 y_i over the observed entries.
struct DenseRows {
  std::vector<std::vector<double>> a, y;  // per observation: K_i x d and K_i
};

DenseRows dense_rows(Context& ctx, const Observations& o) {
  if (o.d > 2048) throw ArgumentError(cat("Gaussian EM with a dense covariance: items of ", o.d, " values; dense is for D <= 2048, use diagonal"));
  std::vector<double> identity(std::size_t(o.d * o.d), 0.0);
  for (std::int64_t j = 0; j < o.d; ++j) identity[std::size_t(j * o.d + j)] = 1.0;
  const Tensor basis = to_tensor(identity, o.d, o.op->input().shape);
  DenseRows rows;
  std::vector<double> shared;  // A^T as (d, k) when one operator serves every observation
  for (std::int64_t i = 0; i < o.m; ++i) {
    std::vector<double> columns;
    if (!o.stacked && !shared.empty()) {
      columns = shared;
    } else {
      Tensor out = o.item(i).make_output(o.d, Device::cpu());
      o.item(i).apply(ctx, basis, out);
      columns = to_doubles(out);
      if (!o.stacked) shared = columns;
    }
    std::vector<double> a, yy;
    for (std::int64_t e = 0; e < o.k; ++e) {
      const double w = o.precision[std::size_t(i * o.k + e)];
      if (w == 0) continue;
      const double s = std::sqrt(w);
      for (std::int64_t j = 0; j < o.d; ++j) a.push_back(s * columns[std::size_t(j * o.k + e)]);
      yy.push_back(s * o.y[std::size_t(i * o.k + e)]);
    }
    rows.a.push_back(std::move(a));
    rows.y.push_back(std::move(yy));
  }
  return rows;
}

struct DensePass {
  std::vector<double> log_evidence, sum_mean, sum_second;  // sum_second: d x d, sum of C_i + m_i m_i^T
};
DensePass dense_pass(const Observations& o, const DenseRows& rows, const std::vector<double>& mean, const std::vector<double>& cov) {
  const std::int64_t d = o.d;
  DensePass p;
  p.log_evidence.assign(std::size_t(o.m), 0.0);
  p.sum_mean.assign(std::size_t(d), 0.0);
  p.sum_second.assign(std::size_t(d * d), 0.0);
  for (std::int64_t i = 0; i < o.m; ++i) {
    const std::vector<double>& a = rows.a[std::size_t(i)];
    const std::int64_t k = std::int64_t(rows.y[std::size_t(i)].size());
    // B = S A^T (d x k), G = I + A B (k x k), r = y - A mu.
    std::vector<double> b(std::size_t(d * k), 0.0), g(std::size_t(k * k), 0.0), r(rows.y[std::size_t(i)]);
    for (std::int64_t u = 0; u < d; ++u)
      for (std::int64_t c = 0; c < k; ++c) {
        double s = 0;
        for (std::int64_t v = 0; v < d; ++v) s += cov[std::size_t(u * d + v)] * a[std::size_t(c * d + v)];
        b[std::size_t(u * k + c)] = s;
      }
    for (std::int64_t c = 0; c < k; ++c) {
      for (std::int64_t e = 0; e < k; ++e) {
        double s = c == e ? 1.0 : 0.0;
        for (std::int64_t v = 0; v < d; ++v) s += a[std::size_t(c * d + v)] * b[std::size_t(v * k + e)];
        g[std::size_t(c * k + e)] = s;
      }
      for (std::int64_t v = 0; v < d; ++v) r[std::size_t(c)] -= a[std::size_t(c * d + v)] * mean[std::size_t(v)];
    }
    if (cholesky_in_place(g, k) >= 0)
      throw NumericError("Gaussian EM: Sigma + A S A^T is not positive definite (a noise variance of 0?)");
    const double log_det = cholesky_log_det(g, k);
    std::vector<double> v = r;
    cholesky_solve(g, k, v.data());
    double quad = 0;
    for (std::int64_t c = 0; c < k; ++c) quad += r[std::size_t(c)] * v[std::size_t(c)];
    // The whitened y has unit noise, so log p(y) = log p(whitened y) - (1/2) sum log sigma^2.
    p.log_evidence[std::size_t(i)] = -0.5 * (quad + log_det + o.noise_term[std::size_t(i)]);
    // m = mu + B v; C = S - B G^-1 B^T.
    std::vector<double> m(mean);
    for (std::int64_t u = 0; u < d; ++u)
      for (std::int64_t c = 0; c < k; ++c) m[std::size_t(u)] += b[std::size_t(u * k + c)] * v[std::size_t(c)];
    std::vector<double> z(static_cast<std::size_t>(k));
    for (std::int64_t u = 0; u < d; ++u) {
      for (std::int64_t c = 0; c < k; ++c) z[std::size_t(c)] = b[std::size_t(u * k + c)];
      cholesky_solve(g, k, z.data());  // column u of G^-1 B^T
      for (std::int64_t w = 0; w < d; ++w) {
        double s = 0;
        for (std::int64_t c = 0; c < k; ++c) s += b[std::size_t(w * k + c)] * z[std::size_t(c)];
        p.sum_second[std::size_t(w * d + u)] += cov[std::size_t(w * d + u)] - s + m[std::size_t(w)] * m[std::size_t(u)];
      }
    }
    for (std::int64_t u = 0; u < d; ++u) p.sum_mean[std::size_t(u)] += m[std::size_t(u)];
  }
  return p;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(std::max<std::size_t>(v.size(), 1));
}

void require_host(const Context& ctx) {
  if (ctx.device() != Device::cpu()) throw ArgumentError("Gaussian EM runs on the host: give it a CPU context");
}

}  // namespace

GaussianPrior fit_gaussian_em(Context& ctx, const std::shared_ptr<const Operator>& op, const Tensor& y, const Tensor& noise_variance,
                              const GaussianEmOptions& options, GaussianEmReport* report) {
  require_host(ctx);
  if (!op) throw ArgumentError("Gaussian EM: no operator");
  if (options.iterations < 0) throw ArgumentError(cat("Gaussian EM: ", options.iterations, " iterations"));
  if (!(options.initial_variance > 0)) throw ArgumentError(cat("Gaussian EM: initial variance ", options.initial_variance, " must be positive"));
  const Observations o = read_observations(op, y, noise_variance);
  GaussianPrior prior;
  prior.kind = options.structure;
  prior.item_shape = op->input().shape;
  prior.mean.assign(std::size_t(o.d), 0.0);
  const double inv_m = 1.0 / double(o.m);
  if (report) report->log_evidence.clear();
  if (options.structure == GaussianPrior::Covariance::diagonal) {
    const std::vector<double> h = diagonal_curvature(ctx, o);
    prior.var.assign(std::size_t(o.d), options.initial_variance);
    for (int it = 0;; ++it) {
      BasisPass<double> p = diagonal_pass(ctx, o, h, prior.mean, prior.var);
      if (report) report->log_evidence.push_back(mean_of(p.log_evidence));
      if (it == options.iterations) break;
      for (std::int64_t j = 0; j < o.d; ++j) {
        const double m = p.sum_mean[std::size_t(j)] * inv_m;
        prior.mean[std::size_t(j)] = m;
        prior.var[std::size_t(j)] = std::max(p.sum_second[std::size_t(j)] * inv_m - m * m, 0.0);
      }
    }
  } else if (options.structure == GaussianPrior::Covariance::dense) {
    const DenseRows rows = dense_rows(ctx, o);
    prior.cov.assign(std::size_t(o.d * o.d), 0.0);
    for (std::int64_t j = 0; j < o.d; ++j) prior.cov[std::size_t(j * o.d + j)] = options.initial_variance;
    for (int it = 0;; ++it) {
      DensePass p = dense_pass(o, rows, prior.mean, prior.cov);
      if (report) report->log_evidence.push_back(mean_of(p.log_evidence));
      if (it == options.iterations) break;
      for (std::int64_t u = 0; u < o.d; ++u) prior.mean[std::size_t(u)] = p.sum_mean[std::size_t(u)] * inv_m;
      for (std::int64_t u = 0; u < o.d; ++u)
        for (std::int64_t w = 0; w <= u; ++w) {
          // Symmetrised: the two triangles of the accumulated sums differ by rounding only.
          const double s = 0.5 * (p.sum_second[std::size_t(u * o.d + w)] + p.sum_second[std::size_t(w * o.d + u)]) * inv_m -
                           prior.mean[std::size_t(u)] * prior.mean[std::size_t(w)];
          prior.cov[std::size_t(u * o.d + w)] = prior.cov[std::size_t(w * o.d + u)] = s;
        }
    }
  } else if (options.structure == GaussianPrior::Covariance::stationary) {
    const std::vector<double> h = stationary_curvature(ctx, o);
    prior.spectrum.assign(std::size_t(o.d), options.initial_variance);
    for (int it = 0;; ++it) {
      BasisPass<std::complex<double>> p = stationary_pass(ctx, o, h, prior.mean, prior.spectrum);
      if (report) report->log_evidence.push_back(mean_of(p.log_evidence));
      if (it == options.iterations) break;
      Spectrum mean_f(std::size_t(o.d));
      for (std::int64_t k = 0; k < o.d; ++k) {
        mean_f[std::size_t(k)] = p.sum_mean[std::size_t(k)] * inv_m;
        prior.spectrum[std::size_t(k)] = std::max(p.sum_second[std::size_t(k)] * inv_m - std::norm(mean_f[std::size_t(k)]), 0.0);
      }
      make_even(prior.spectrum, prior.item_shape);
      prior.mean = real_idft_items(ctx, mean_f, 1, prior.item_shape);
    }
  } else {
    throw ArgumentError(cat("Gaussian EM: the ", covariance_name(options.structure), " structure has no closed-form EM; use dense, diagonal or stationary"));
  }
  return prior;
}

std::vector<double> gaussian_log_evidence(Context& ctx, const GaussianPrior& prior, const std::shared_ptr<const Operator>& op,
                                          const Tensor& y, const Tensor& noise_variance) {
  require_host(ctx);
  const Observations o = read_observations(op, y, noise_variance);
  if (prior.item_shape.numel() != o.d) throw ShapeError(cat("Gaussian log evidence: the prior's items are ", prior.item_shape.str(), ", the operator's ", op->input().str()));
  if (prior.kind == GaussianPrior::Covariance::diagonal) return diagonal_pass(ctx, o, diagonal_curvature(ctx, o), prior.mean, prior.var).log_evidence;
  if (prior.kind == GaussianPrior::Covariance::dense) return dense_pass(o, dense_rows(ctx, o), prior.mean, prior.cov).log_evidence;
  if (prior.kind == GaussianPrior::Covariance::stationary)
    return stationary_pass(ctx, o, stationary_curvature(ctx, o), prior.mean, prior.spectrum).log_evidence;
  throw ArgumentError(cat("Gaussian log evidence: ", covariance_name(prior.kind), " priors are not supported; dense, diagonal or stationary"));
}

}  // namespace tweedie::samplers

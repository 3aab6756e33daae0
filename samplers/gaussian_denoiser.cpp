#include "samplers/gaussian_denoiser.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/axpby.h"
#include "kernels/channel_ops.h"
#include "kernels/fft.h"
#include "kernels/gemm.h"
#include "kernels/map.h"
#include "kernels/random.h"
#include "runtime/check.h"
#include "runtime/memory.h"
#include "samplers/linalg/cholesky.h"

// LAPACK's symmetric eigensolver, exported by OpenBLAS. The trailing lengths are the hidden Fortran
// string lengths of jobz and uplo.
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, std::size_t jobz_len,
                        std::size_t uplo_len);

namespace tweedie::samplers {

struct GaussianDenoiser::Linearization final : DenoiserLinearization {
  Operator op;
};

namespace {

constexpr const char* kName = "GaussianDenoiser";
// Streams of the second noise array of a draw (W's coefficients), far from the per-item streams 0..N-1.
constexpr std::uint64_t kSecondStream = std::uint64_t(1) << 40;

// alpha s / (alpha^2 s + sigma^2): J's gain along a direction of prior variance s. A direction with no
// variance gets 0 also when sigma = 0.
double gain(double alpha, double sigma, double s) {
  double den = alpha * alpha * s + sigma * sigma;
  return den > 0 ? alpha * s / den : 0.0;
}

void require_finite(const std::vector<double>& v, const std::string& where, const char* name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) throw ArgumentError(cat(where, ": '", name, "' has a non-finite value at ", i));
}

void require_count(const std::vector<double>& v, std::int64_t n, const std::string& where, const char* name,
                   const std::string& expected) {
  if (std::int64_t(v.size()) != n)
    throw ArgumentError(cat(where, ": '", name, "' has ", v.size(), " values, expected ", n, " ", expected));
  require_finite(v, where, name);
}

void require_nonnegative(const std::vector<double>& v, const std::string& where, const char* name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0) throw ArgumentError(cat(where, ": '", name, "' has the negative value ", v[i], " at ", i));
}

// The spectrum of a real stationary covariance is even: p[c, k, l] = p[c, -k mod H, -l mod W].
void require_even_spectrum(const std::vector<double>& p, const Shape& s, const std::string& where) {
  std::int64_t h = s[1], w = s[2];
  double largest = 0;
  for (double v : p) largest = std::max(largest, v);
  for (std::int64_t c = 0; c < s[0]; ++c)
    for (std::int64_t k = 0; k < h; ++k)
      for (std::int64_t l = 0; l < w; ++l) {
        double a = p[std::size_t((c * h + k) * w + l)], b = p[std::size_t((c * h + (h - k) % h) * w + (w - l) % w)];
        if (std::abs(a - b) > kSymmetryTolerance * largest)
          throw ArgumentError(cat(where, ": 'spectrum' is not even (p[", c, ",", k, ",", l, "] = ", a, " but p[", c, ",",
                                  (h - k) % h, ",", (w - l) % w, "] = ", b,
                                  "); the covariance of a real image needs p(k) = p(-k)"));
      }
}

std::vector<double> doubled(const std::vector<double>& v) {
  std::vector<double> out(2 * v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[2 * i] = out[2 * i + 1] = v[i];
  return out;
}

std::vector<double> square_roots(const std::vector<double>& v) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::sqrt(std::max(v[i], 0.0));
  return out;
}

}  // namespace

const char* covariance_name(GaussianPrior::Covariance kind) {
  switch (kind) {
    case GaussianPrior::Covariance::dense: return "dense";
    case GaussianPrior::Covariance::diagonal: return "diagonal";
    case GaussianPrior::Covariance::low_rank: return "low-rank";
    case GaussianPrior::Covariance::stationary: return "stationary";
  }
  return "?";
}

SymmetricEigen symmetric_eigen(std::vector<double> a, std::int64_t n) {
  if (n <= 0 || n > 46340 || std::int64_t(a.size()) != n * n)
    throw ArgumentError(cat("symmetric_eigen: ", a.size(), " values for n = ", n));
  SymmetricEigen e;
  e.values.resize(std::size_t(n));
  int dim = int(n), info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0;
  dsyevd_("V", "L", &dim, a.data(), &dim, e.values.data(), &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  if (info != 0) throw BackendError(cat("LAPACK dsyevd workspace query failed (info ", info, ") for n = ", n));
  lwork = int(work_size) + 1;
  liwork = iwork_size;
  std::vector<double> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(std::size_t(std::max(liwork, 1)));
  dsyevd_("V", "L", &dim, a.data(), &dim, e.values.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0) throw BackendError(cat("LAPACK dsyevd failed (info ", info, ") for n = ", n));
  // Column-major eigenvectors are row-major rows.
  e.vectors = std::move(a);
  return e;
}

SymmetricEigen checked_covariance_eigen(const std::vector<double>& matrix, std::int64_t n, const std::string& where,
                                        const std::string& name) {
  if (std::int64_t(matrix.size()) != n * n)
    throw ArgumentError(cat(where, ": '", name, "' has ", matrix.size(), " values, expected ", n, " x ", n));
  require_finite(matrix, where, name.c_str());
  double largest = 0;
  for (double v : matrix) largest = std::max(largest, std::abs(v));
  std::vector<double> sym(matrix.size());
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double a = matrix[std::size_t(i * n + j)], b = matrix[std::size_t(j * n + i)];
      if (std::abs(a - b) > kSymmetryTolerance * largest)
        throw ArgumentError(cat(where, ": '", name, "' is not symmetric: [", i, ",", j, "] = ", a, " but [", j, ",", i,
                                "] = ", b, " (tolerance ", kSymmetryTolerance, " of the largest |entry| ", largest, ")"));
      sym[std::size_t(i * n + j)] = 0.5 * (a + b);
    }
  SymmetricEigen e = symmetric_eigen(std::move(sym), n);
  double top = std::max(std::abs(e.values.front()), std::abs(e.values.back()));
  if (e.values.front() < -kPsdTolerance * top)
    throw ArgumentError(cat(where, ": '", name, "' is not positive semi-definite: eigenvalue ", e.values.front(),
                            " (tolerance ", kPsdTolerance, " of the largest, ", top, ")"));
  for (double& v : e.values) v = std::max(v, 0.0);
  return e;
}

namespace detail {

void scale_columns(Context& ctx, const Tensor& x, const Tensor& f, Tensor& y) {
  fill(ctx, y, 0.0f);
  add_channel_vector(ctx, y, f);
  mul(ctx, x, y, y);
}

void add_scaled_rows(Context& ctx, const Tensor& x, const std::vector<double>& f, Tensor& y, Tensor& scratch) {
  std::int64_t rows = x.dim(0), cols = x.numel() / std::max<std::int64_t>(rows, 1);
  Tensor factors = upload(f, {rows, 1}, ctx.device());
  Tensor s = scratch.reshape({rows, 1, cols});
  fill(ctx, s, 0.0f);
  add_channel_vector(ctx, s, factors);
  mul(ctx, x, scratch, scratch);
  axpby(ctx, 1.0f, scratch, 1.0f, y);
}

Tensor upload(const std::vector<double>& values, const Shape& shape, Device device) {
  std::vector<float> f(values.begin(), values.end());
  return Tensor::from_host(std::span<const float>(f), shape, device);
}

}  // namespace detail

GaussianDenoiser::GaussianDenoiser(GaussianPrior prior, std::unique_ptr<Process> process, Device device,
                                   const std::string& where)
    : prior_(std::move(prior)), process_(std::move(process)), device_(device) {
  using Cov = GaussianPrior::Covariance;
  const Shape& s = prior_.item_shape;
  if (!process_) throw ArgumentError(cat(where, ": no process"));
  if (s.rank() < 1 || s.rank() > kMaxRank - 1 || s.numel() < 1)
    throw ArgumentError(cat(where, ": item shape ", s.str(), " must have 1 to ", kMaxRank - 1, " dimensions and elements"));
  dim_ = s.numel();
  std::string items = cat("(item shape ", s.str(), ")");
  require_count(prior_.mean, dim_, where, "mean", items);
  std::vector<double> sqrt_gains;
  switch (prior_.kind) {
    case Cov::dense: {
      SymmetricEigen e = checked_covariance_eigen(prior_.cov, dim_, where, "cov");
      eigenvalues_ = e.values;
      basis_ = detail::upload(e.vectors, {dim_, dim_}, device_);
      sqrt_gains = square_roots(e.values);
      break;
    }
    case Cov::low_rank:
      if (prior_.rank < 1) throw ArgumentError(cat(where, ": 'factor' needs rank >= 1, got ", prior_.rank));
      require_count(prior_.factor, dim_ * prior_.rank, where, "factor", cat("(", dim_, " x ", prior_.rank, ")"));
      factor_ = detail::upload(prior_.factor, {dim_, prior_.rank}, device_);
      [[fallthrough]];
    case Cov::diagonal:
      require_count(prior_.var, dim_, where, "var", items);
      require_nonnegative(prior_.var, where, "var");
      sqrt_gains = square_roots(prior_.var);
      break;
    case Cov::stationary:
      if (s.rank() != 3) throw ArgumentError(cat(where, ": a stationary prior needs (C, H, W) items, got ", s.str()));
      require_count(prior_.spectrum, dim_, where, "spectrum", items);
      require_nonnegative(prior_.spectrum, where, "spectrum");
      require_even_spectrum(prior_.spectrum, s, where);
      sqrt_gains = doubled(square_roots(prior_.spectrum));
      one_ = detail::upload({1.0}, {1}, device_);
      break;
  }
  mean_ = detail::upload(prior_.mean, {dim_}, device_);
  sqrt_gains_ = detail::upload(sqrt_gains, {std::int64_t(sqrt_gains.size())}, device_);
}

GaussianDenoiser::Operator GaussianDenoiser::make_operator(double t) const {
  using Cov = GaussianPrior::Covariance;
  double a = process_->alpha(t), s = process_->sigma(t);
  const std::vector<double>& variances = prior_.kind == Cov::dense        ? eigenvalues_
                                         : prior_.kind == Cov::stationary ? prior_.spectrum
                                                                          : prior_.var;
  std::vector<double> gains(variances.size());
  for (std::size_t i = 0; i < gains.size(); ++i) gains[i] = gain(a, s, variances[i]);
  Operator op;
  if (prior_.kind == Cov::stationary) gains = doubled(gains);
  op.gains = detail::upload(gains, {std::int64_t(gains.size())}, device_);
  if (prior_.kind != Cov::low_rank) return op;

  // H = sqrt(alpha) sigma G L^{-T} with K = I + alpha^2 W^T G = L L^T, so that H H^T = alpha sigma^2 G K^{-1} G^T.
  std::int64_t d = dim_, r = prior_.rank;
  std::vector<double> g(std::size_t(d * r)), k(std::size_t(r * r), 0.0);
  for (std::int64_t i = 0; i < d; ++i) {
    double e = a * a * prior_.var[std::size_t(i)] + s * s;
    if (!(e > 0))
      throw ArgumentError(cat(kName, ": low-rank prior at t = ", t, " has alpha^2 var + sigma^2 = 0 at ", i,
                              "; it needs sigma(t) > 0 or var > 0"));
    for (std::int64_t j = 0; j < r; ++j) g[std::size_t(i * r + j)] = prior_.factor[std::size_t(i * r + j)] / e;
  }
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t p = 0; p < r; ++p)
      for (std::int64_t q = 0; q <= p; ++q)
        k[std::size_t(p * r + q)] += a * a * prior_.factor[std::size_t(i * r + p)] * g[std::size_t(i * r + q)];
  for (std::int64_t p = 0; p < r; ++p) {
    k[std::size_t(p * r + p)] += 1.0;
    for (std::int64_t q = 0; q < p; ++q) k[std::size_t(q * r + p)] = k[std::size_t(p * r + q)];
  }
  if (const std::int64_t pivot = cholesky_in_place(k, r); pivot >= 0)
    throw ArgumentError(cat(kName, ": the Woodbury matrix is not positive definite (pivot ", pivot, ")"));
  double c = std::sqrt(std::max(a, 0.0)) * s;
  for (std::int64_t i = 0; i < d; ++i) {  // row i of H solves L h^T = c g_i^T
    double* h = &g[std::size_t(i * r)];
    for (std::int64_t p = 0; p < r; ++p) {
      double v = c * h[p];
      for (std::int64_t q = 0; q < p; ++q) v -= k[std::size_t(p * r + q)] * h[q];
      h[p] = v / k[std::size_t(p * r + p)];
    }
  }
  op.factor = detail::upload(g, {d, r}, device_);
  return op;
}

void GaussianDenoiser::apply(Context& ctx, const Operator& op, const Tensor& x, Tensor& y) const {
  using Cov = GaussianPrior::Covariance;
  switch (prior_.kind) {
    case Cov::dense: {
      Tensor c = Tensor::empty(x.shape(), ctx.device()), scaled = Tensor::empty(x.shape(), ctx.device());
      matmul(ctx, x, basis_, c, {.trans_b = true});
      detail::scale_columns(ctx, c, op.gains, scaled);
      matmul(ctx, scaled, basis_, y);
      return;
    }
    case Cov::diagonal: detail::scale_columns(ctx, x, op.gains, y); return;
    case Cov::low_rank: {
      detail::scale_columns(ctx, x, op.gains, y);
      Tensor c = Tensor::empty({x.dim(0), prior_.rank}, ctx.device());
      matmul(ctx, x, op.factor, c);
      matmul(ctx, c, op.factor, y, {.trans_b = true, .beta = 1.0f});
      return;
    }
    case Cov::stationary: apply_stationary(ctx, op.gains, x, y); return;
  }
}

// F^H diag(gains) F per channel. The real input goes into the real parts of a complex array (a product
// with the scalar 1 that writes every other float: kernels/ has no real-to-complex copy), the gains
// multiply real and imaginary parts alike, and the real parts come back the same way. With even gains
// the imaginary parts are zero up to rounding.
void GaussianDenoiser::apply_stationary(Context& ctx, const Tensor& gains, const Tensor& x, Tensor& y) const {
  const Shape& s = prior_.item_shape;
  std::int64_t rows = x.dim(0), values = x.numel();
  Device dev = ctx.device();
  Tensor z = Tensor::zeros({rows * s[0], s[1], s[2]}, dev, DType::c64);
  float* zf = reinterpret_cast<float*>(z.data<complex64>());
  gemm(ctx, {.m = values, .n = 1, .k = 1, .a = x.data<float>(), .lda = 1, .b = one_.data<float>(), .ldb = 1, .c = zf, .ldc = 2});
  fft2(ctx, z, z, FftNorm::ortho);
  Tensor spectrum = Tensor::empty({rows, 2 * dim_}, dev), filtered = Tensor::empty({rows, 2 * dim_}, dev);
  copy_bytes(spectrum.raw_data(), dev, z.raw_data(), dev, z.nbytes());
  detail::scale_columns(ctx, spectrum, gains, filtered);
  copy_bytes(z.raw_data(), dev, filtered.raw_data(), dev, z.nbytes());
  ifft2(ctx, z, z, FftNorm::ortho);
  gemm(ctx, {.m = values, .n = 1, .k = 1, .a = zf, .lda = 2, .b = one_.data<float>(), .ldb = 1, .c = y.data<float>(), .ldc = 1});
}

void GaussianDenoiser::check_items(const Context& ctx, const char* name, const Tensor& x) const {
  expect_tensor(ctx, kName, name, x);
  const Shape& s = prior_.item_shape;
  bool ok = x.rank() == s.rank() + 1;
  for (int i = 0; ok && i < s.rank(); ++i) ok = x.dim(i + 1) == s[i];
  if (!ok) throw ShapeError(cat(kName, ": ", name, " is ", x.str(), ", expected (N, ", s.str().substr(1)));
  if (x.device() != device_)
    throw DeviceError(cat(kName, ": ", name, " is on ", x.device().str(), " but the prior lives on ", device_.str()));
}

void GaussianDenoiser::denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const {
  linearize(ctx, xt, t, x0);
}

std::unique_ptr<DenoiserLinearization> GaussianDenoiser::linearize(Context& ctx, const Tensor& xt, double t,
                                                                   Tensor& x0) const {
  check_items(ctx, "xt", xt);
  check_items(ctx, "x0", x0);
  expect_same_shape(kName, "xt", xt, "x0", x0);
  expect_distinct(kName, "xt", xt, "x0", x0);
  auto lin = std::make_unique<Linearization>();
  lin->batch = xt.dim(0);
  lin->t = t;
  lin->op = make_operator(t);
  std::int64_t n = xt.dim(0);
  Tensor residual = xt.reshape({n, dim_}).clone();  // x_t - alpha mu
  add_channel_vector(ctx, residual, mean_, -float(process_->alpha(t)));
  Tensor out = x0.reshape({n, dim_});
  apply(ctx, lin->op, residual, out);
  add_channel_vector(ctx, out, mean_);
  forward_count += n;
  return lin;
}

void GaussianDenoiser::check_product(const Context& ctx, const DenoiserLinearization& lin, const char* in_name,
                                     const Tensor& in, const Tensor& out) const {
  if (!dynamic_cast<const Linearization*>(&lin)) throw ArgumentError(cat(kName, ": not a linearization of this denoiser"));
  check_items(ctx, in_name, in);
  check_items(ctx, "output", out);
  expect_same_shape(kName, in_name, in, "output", out);
  expect_distinct(kName, in_name, in, "output", out);
  if (lin.batch <= 0 || in.dim(0) % lin.batch != 0)
    throw ShapeError(cat(kName, ": ", in_name, " has ", in.dim(0), " items, not a multiple of the ", lin.batch, " linearized"));
}

void GaussianDenoiser::jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const {
  check_product(ctx, lin, "v", v, jv);
  Tensor out = jv.reshape({v.dim(0), dim_});
  apply(ctx, static_cast<const Linearization&>(lin).op, v.reshape({v.dim(0), dim_}), out);
  jvp_count += v.dim(0);
}

void GaussianDenoiser::vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const {
  check_product(ctx, lin, "u", u, ju);
  Tensor out = ju.reshape({u.dim(0), dim_});
  apply(ctx, static_cast<const Linearization&>(lin).op, u.reshape({u.dim(0), dim_}), out);  // J is symmetric
  vjp_count += u.dim(0);
}

void GaussianDenoiser::sample_prior(Context& ctx, std::uint64_t seed, Tensor& out) const {
  using Cov = GaussianPrior::Covariance;
  check_items(ctx, "out", out);
  std::int64_t n = out.dim(0);
  Tensor z = Tensor::empty({n, dim_}, ctx.device());
  fill_normal(ctx, z, {seed, 0}, 0.0f, 1.0f, n);
  Tensor x = out.reshape({n, dim_});
  Operator root{sqrt_gains_, {}};
  if (prior_.kind == Cov::low_rank) {
    detail::scale_columns(ctx, z, sqrt_gains_, x);
    Tensor c = Tensor::empty({n, prior_.rank}, ctx.device());
    fill_normal(ctx, c, {seed, kSecondStream}, 0.0f, 1.0f, n);
    matmul(ctx, c, factor_, x, {.trans_b = true, .beta = 1.0f});
  } else {
    apply(ctx, root, z, x);
  }
  add_channel_vector(ctx, x, mean_);
}

}  // namespace tweedie::samplers

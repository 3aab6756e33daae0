// Gaussian noise with correlated entries: a full Sigma_y, or diag(sigma^2) + F^T F (noise_model.h).
//
// Everything runs on the host in double. The covariance of the observed entries o, Sigma_oo, is factored
// once per observed pattern (Cholesky of Sigma_oo, or of the Woodbury capacitance matrix) and kept; the
// patterns seen so far are cached under a mutex, since samplers call from one thread but MPI-less
// embedders may share a model between threads.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numbers>
#include <vector>

#include "kernels/random.h"
#include "samplers/linalg/cholesky.h"
#include "samplers/noise/noise_checks.h"
#include "samplers/noise/noise_model.h"

namespace tweedie::samplers {
namespace {

namespace nc = noise_checks;
constexpr const char* kModel = "correlated gaussian noise";

// Sigma_oo for one observed pattern, factored.
struct Pattern {
  std::vector<std::int64_t> entries;  // o, ascending
  std::vector<double> factor;         // full: L of Sigma_oo; low rank: L of I + F_o D_o^-1 F_o^T
  double log_det = 0;                 // log det Sigma_oo
};

// The covariance with its per-pattern math on one item's observed entries (vectors of length |o|).
class Covariance : public NoiseCovariance {
 public:
  Covariance(std::int64_t entries, std::string description) : m_(entries), description_(std::move(description)) {}

  std::int64_t entries() const { return m_; }
  const std::string& description() const { return description_; }
  // Standard normals one item's draw uses: one per entry, plus one per correlated source.
  virtual std::int64_t normals() const = 0;

  // out = Sigma_oo u.
  virtual void multiply(const Pattern& p, const double* u, double* out) const = 0;
  // r <- Sigma_oo^-1 r.
  virtual void solve(const Pattern& p, double* r) const = 0;
  // e ~ N(0, Sigma_oo) from normals() standard normals n.
  virtual void draw(const Pattern& p, const double* n, double* e) const = 0;

  // The factored pattern of `observed` (undefined: every entry), from the cache when seen before.
  // MMPS asks once per CG product with the same mask, so the last mask is remembered by its storage
  // (held here, so its address cannot be reused) and not copied to the host again; masks are not
  // changed in place.
  std::shared_ptr<const Pattern> pattern(Context& ctx, const Tensor& observed) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (last_pattern_ && observed.defined() == last_observed_.defined() &&
          (!observed.defined() || (observed.data<float>() == last_observed_.data<float>() && observed.shape() == last_observed_.shape() &&
                                   observed.device() == last_observed_.device())))
        return last_pattern_;
    }
    std::vector<char> key(std::size_t(m_), 1);
    if (observed.defined()) {
      const std::vector<float> seen = host_values(ctx, observed);
      for (std::size_t i = 0; i < key.size(); ++i) key[i] = seen[i] != 0;
    }
    std::shared_ptr<const Pattern> p = pattern(std::move(key));
    std::lock_guard<std::mutex> lock(mutex_);
    last_observed_ = observed;
    last_pattern_ = p;
    return p;
  }
  std::shared_ptr<const Pattern> pattern(std::vector<char> key) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = patterns_.find(key);
    if (it != patterns_.end()) return it->second;
    auto p = std::make_shared<Pattern>();
    for (std::int64_t i = 0; i < m_; ++i)
      if (key[std::size_t(i)]) p->entries.push_back(i);
    factor(*p);
    return patterns_.emplace(std::move(key), std::move(p)).first->second;
  }

  void apply(Context& ctx, const Tensor& u, const Tensor& observed, Tensor& out) const override {
    const std::int64_t n = nc::batch_of(ctx, kModel, u, false);
    check_item(u, "u");
    nc::prepare_output(ctx, kModel, "out", out, u);
    const std::shared_ptr<const Pattern> p = pattern(ctx, observed);
    std::vector<double> in(p->entries.size()), res(p->entries.size());
    std::vector<float> host = host_values(ctx, u);
    for (std::int64_t r = 0; r < n; ++r) {
      float* row = host.data() + r * m_;
      gather(*p, row, in.data());
      multiply(*p, in.data(), res.data());
      scatter(*p, res.data(), row);  // unobserved entries keep u
    }
    out.copy_from(Tensor::from_host(std::span<const float>(host), u.shape(), Device::cpu()));
  }

  // The f32 values of t on the host (after the context's pending work).
  static std::vector<float> host_values(Context& ctx, const Tensor& t) {
    ctx.synchronize();
    return t.to_vector<float>();
  }
  void check_item(const Tensor& t, const char* name) const {
    if (t.numel() != t.dim(0) * m_)
      throw ShapeError(cat(kModel, " '", description_, "': ", name, " is ", t.str(), ", but the covariance is over ", m_,
                           " entries per item"));
  }
  static void gather(const Pattern& p, const float* row, double* out) {
    for (std::size_t i = 0; i < p.entries.size(); ++i) out[i] = row[p.entries[i]];
  }
  static void scatter(const Pattern& p, const double* values, float* row) {
    for (std::size_t i = 0; i < p.entries.size(); ++i) row[p.entries[i]] = float(values[i]);
  }

 protected:
  virtual void factor(Pattern& p) const = 0;
  [[noreturn]] void not_positive_definite(const std::string& what) const {
    throw ArgumentError(cat(kModel, " '", description_, "': ", what));
  }

 private:
  std::int64_t m_;
  std::string description_;
  mutable std::mutex mutex_;
  mutable std::map<std::vector<char>, std::shared_ptr<const Pattern>> patterns_;
  mutable Tensor last_observed_;                      // the mask of the last pattern() call
  mutable std::shared_ptr<const Pattern> last_pattern_;
};

class FullCovariance final : public Covariance {
 public:
  FullCovariance(std::vector<double> sigma, std::int64_t m, std::string description)
      : Covariance(m, std::move(description)), sigma_(std::move(sigma)) {}
  std::int64_t normals() const override { return entries(); }

  void multiply(const Pattern& p, const double* u, double* out) const override {
    const std::size_t k = p.entries.size();
    for (std::size_t i = 0; i < k; ++i) {
      const double* row = &sigma_[std::size_t(p.entries[i] * entries())];
      double s = 0;
      for (std::size_t j = 0; j < k; ++j) s += row[p.entries[j]] * u[j];
      out[i] = s;
    }
  }
  void solve(const Pattern& p, double* r) const override { cholesky_solve(p.factor, std::int64_t(p.entries.size()), r); }
  void draw(const Pattern& p, const double* n, double* e) const override {
    std::vector<double> picked(p.entries.size());
    for (std::size_t i = 0; i < picked.size(); ++i) picked[i] = n[p.entries[i]];
    lower_multiply(p.factor, std::int64_t(picked.size()), picked.data(), e);
  }

 protected:
  void factor(Pattern& p) const override {
    const auto k = std::int64_t(p.entries.size());
    p.factor.assign(std::size_t(k * k), 0.0);
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j <= i; ++j)
        p.factor[std::size_t(i * k + j)] = sigma_[std::size_t(p.entries[std::size_t(i)] * entries() + p.entries[std::size_t(j)])];
    if (const std::int64_t pivot = cholesky_in_place(p.factor, k); pivot >= 0)
      not_positive_definite(cat("the covariance of the observed entries is not positive definite (its Cholesky pivot at entry ",
                                p.entries[std::size_t(pivot)], " is not positive)"));
    p.log_det = cholesky_log_det(p.factor, k);
  }

 private:
  std::vector<double> sigma_;  // m x m
};

class LowRankCovariance final : public Covariance {
 public:
  LowRankCovariance(std::vector<double> variance, std::vector<double> f, std::int64_t rank, std::string description)
      : Covariance(std::int64_t(variance.size()), std::move(description)), d_(std::move(variance)), f_(std::move(f)),
        rank_(rank) {}
  std::int64_t normals() const override { return entries() + rank_; }

  void multiply(const Pattern& p, const double* u, double* out) const override {
    const std::vector<double> fu = factor_times(p, u);
    for (std::size_t i = 0; i < p.entries.size(); ++i) {
      const std::int64_t e = p.entries[i];
      double s = d_[std::size_t(e)] * u[i];
      for (std::int64_t q = 0; q < rank_; ++q) s += f_[std::size_t(q * entries() + e)] * fu[std::size_t(q)];
      out[i] = s;
    }
  }
  // Woodbury: Sigma^-1 r = D^-1 r - D^-1 F^T C^-1 F D^-1 r, C = I + F D^-1 F^T.
  void solve(const Pattern& p, double* r) const override {
    for (std::size_t i = 0; i < p.entries.size(); ++i) r[i] /= d_[std::size_t(p.entries[i])];
    std::vector<double> c = factor_times(p, r);
    cholesky_solve(p.factor, rank_, c.data());
    for (std::size_t i = 0; i < p.entries.size(); ++i) {
      const std::int64_t e = p.entries[i];
      double s = 0;
      for (std::int64_t q = 0; q < rank_; ++q) s += f_[std::size_t(q * entries() + e)] * c[std::size_t(q)];
      r[i] -= s / d_[std::size_t(e)];
    }
  }
  // e = D^1/2 n_o + F_o^T n_sources: the sum of independent N(0, D) and N(0, F^T F) draws.
  void draw(const Pattern& p, const double* n, double* e) const override {
    const double* sources = n + entries();
    for (std::size_t i = 0; i < p.entries.size(); ++i) {
      const std::int64_t k = p.entries[i];
      double s = std::sqrt(d_[std::size_t(k)]) * n[k];
      for (std::int64_t q = 0; q < rank_; ++q) s += f_[std::size_t(q * entries() + k)] * sources[q];
      e[i] = s;
    }
  }

 protected:
  // log det (D + F^T F) = log det D + log det C (the matrix determinant lemma).
  void factor(Pattern& p) const override {
    p.factor.assign(std::size_t(rank_ * rank_), 0.0);
    double log_det = 0;
    for (std::int64_t e : p.entries) {
      const double inv = 1 / d_[std::size_t(e)];
      log_det += std::log(d_[std::size_t(e)]);
      for (std::int64_t a = 0; a < rank_; ++a)
        for (std::int64_t b = 0; b <= a; ++b)
          p.factor[std::size_t(a * rank_ + b)] += f_[std::size_t(a * entries() + e)] * inv * f_[std::size_t(b * entries() + e)];
    }
    for (std::int64_t a = 0; a < rank_; ++a) p.factor[std::size_t(a * rank_ + a)] += 1;
    // C >= I: only rounding of an absurdly scaled factor can fail here.
    if (const std::int64_t pivot = cholesky_in_place(p.factor, rank_); pivot >= 0)
      not_positive_definite(cat("the capacitance matrix I + F D^-1 F^T is not positive definite (pivot ", pivot,
                                "): the factor or sigma is too badly scaled for double precision"));
    p.log_det = log_det + cholesky_log_det(p.factor, rank_);
  }

 private:
  // F_o u (rank_ values).
  std::vector<double> factor_times(const Pattern& p, const double* u) const {
    std::vector<double> out(std::size_t(rank_), 0.0);
    for (std::int64_t q = 0; q < rank_; ++q) {
      const double* row = &f_[std::size_t(q * entries())];
      double s = 0;
      for (std::size_t i = 0; i < p.entries.size(); ++i) s += row[p.entries[i]] * u[i];
      out[std::size_t(q)] = s;
    }
    return out;
  }

  std::vector<double> d_;  // diag(sigma^2), m
  std::vector<double> f_;  // F, rank x m
  std::int64_t rank_;
};

class CorrelatedGaussianNoise final : public NoiseModel {
 public:
  explicit CorrelatedGaussianNoise(std::shared_ptr<const Covariance> cov) : cov_(std::move(cov)) {}

  std::string describe() const override { return cov_->description(); }
  std::shared_ptr<const NoiseCovariance> gaussian_covariance() const override { return cov_; }

  void sample(Context& ctx, const Tensor& z, const Tensor& observed, RandomStream rng, Tensor& y) const override {
    const std::int64_t n = checked_batch(ctx, z);
    nc::prepare_output(ctx, kModel, "y", y, z);
    const std::shared_ptr<const Pattern> p = cov_->pattern(ctx, observed);
    const std::int64_t m = cov_->entries(), count = cov_->normals();
    std::vector<float> host = Covariance::host_values(ctx, z), out(host.size(), 0.0f);
    std::vector<double> normals(static_cast<std::size_t>(count)), e(p->entries.size());
    for (std::int64_t r = 0; r < n; ++r) {
      // Normal k of item r is element k of Philox stream rng.stream + r, as fill_normal would draw it.
      for (std::int64_t k = 0; k < count; ++k)
        normals[std::size_t(k)] = normal_at(rng.seed, rng.stream + std::uint64_t(r), std::uint64_t(k));
      cov_->draw(*p, normals.data(), e.data());
      for (std::size_t i = 0; i < e.size(); ++i) {
        const std::int64_t at = r * m + p->entries[i];
        out[std::size_t(at)] = float(host[std::size_t(at)] + e[i]);
      }
    }
    y.copy_from(Tensor::from_host(std::span<const float>(out), z.shape(), Device::cpu()));
  }

  // log N(y_o; z_o, Sigma_oo) = -(r^T Sigma_oo^-1 r + log det Sigma_oo + |o| log 2 pi) / 2.
  std::vector<double> log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed) const override {
    const std::int64_t n = checked_batch(ctx, z);
    nc::expect_like_z(ctx, kModel, "y", y, z);
    const std::shared_ptr<const Pattern> p = cov_->pattern(ctx, observed);
    std::vector<double> out(static_cast<std::size_t>(n));
    for_each_residual(ctx, y, z, *p, [&](std::int64_t r, const std::vector<double>& res, const std::vector<double>& w) {
      double quad = 0;
      for (std::size_t i = 0; i < res.size(); ++i) quad += res[i] * w[i];
      out[std::size_t(r)] = -0.5 * (quad + p->log_det + double(res.size()) * std::log(2 * std::numbers::pi));
    });
    return out;
  }

  // d log p / dz = Sigma_oo^-1 (y_o - z_o) on the observed entries, 0 elsewhere.
  void gradient(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed, Tensor& g) const override {
    checked_batch(ctx, z);
    nc::expect_like_z(ctx, kModel, "y", y, z);
    nc::prepare_output(ctx, kModel, "g", g, z);
    const std::shared_ptr<const Pattern> p = cov_->pattern(ctx, observed);
    std::vector<float> out(std::size_t(z.numel()), 0.0f);
    for_each_residual(ctx, y, z, *p, [&](std::int64_t r, const std::vector<double>&, const std::vector<double>& w) {
      Covariance::scatter(*p, w.data(), out.data() + r * cov_->entries());
    });
    g.copy_from(Tensor::from_host(std::span<const float>(out), z.shape(), Device::cpu()));
  }

  void validate(Context& ctx, const Tensor& y, const Tensor& observed, std::string_view where) const override {
    (void)ctx;
    if (y.defined() && y.dtype() == DType::c64)
      throw ArgumentError(cat(where, ": y is complex (", y.str(), "), but noise '", describe(),
                              "' is over real entries; whiten complex (multi-coil) data with its covariance first"));
    nc::HostObservation h = nc::host_observation(where, "Gaussian", y, observed, false);
    if (h.entries != cov_->entries())
      throw ShapeError(cat(where, ": items of y ", y.str(), " have ", h.entries, " entries, but noise '", describe(),
                           "' is a covariance over ", cov_->entries()));
    const float* v = h.y.data<float>();
    for (std::int64_t i = 0; i < h.y.numel(); ++i)
      if (h.seen(i) && !std::isfinite(v[i])) nc::bad_entry(where, h.y.shape(), i, shortest_text(v[i]), "Gaussian observations must be finite");
  }

 private:
  std::int64_t checked_batch(const Context& ctx, const Tensor& z) const {
    if (z.defined() && z.dtype() == DType::c64)
      throw DTypeError(cat(kModel, " '", describe(), "': z is ", z.str(), "; a covariance over real entries takes f32 outputs"));
    const std::int64_t n = nc::batch_of(ctx, kModel, z, false);
    cov_->check_item(z, "z");
    return n;
  }

  // For each item r: res = y_o - z_o and w = Sigma_oo^-1 res, handed to f(r, res, w).
  template <class F>
  void for_each_residual(Context& ctx, const Tensor& y, const Tensor& z, const Pattern& p, F f) const {
    const std::vector<float> hy = Covariance::host_values(ctx, y), hz = Covariance::host_values(ctx, z);
    const std::int64_t m = cov_->entries(), n = z.dim(0);
    std::vector<double> res(p.entries.size()), w(p.entries.size());
    for (std::int64_t r = 0; r < n; ++r) {
      for (std::size_t i = 0; i < res.size(); ++i) {
        const std::size_t at = std::size_t(r * m + p.entries[i]);
        res[i] = double(hy[at]) - double(hz[at]);
      }
      w = res;
      cov_->solve(p, w.data());
      f(r, res, w);
    }
  }

  std::shared_ptr<const Covariance> cov_;
};

// The f32 values of a parameter tensor in double, after checking its type and that they are finite.
std::vector<double> finite_values(const std::string& description, const char* name, const Tensor& t) {
  nc::expect_parameter_tensor(kModel, description, name, t);
  const std::vector<float> v = t.to_host().to_vector<float>();
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) nc::bad_parameter(kModel, description, name, t.to_host(), std::int64_t(i), "it must be finite");
  return {v.begin(), v.end()};
}

}  // namespace

std::unique_ptr<NoiseModel> make_full_covariance_noise(const Tensor& covariance, const Shape& item, std::string description) {
  const std::int64_t m = item.numel();
  std::vector<double> s = finite_values(description, "the covariance", covariance);
  if (covariance.rank() != 2 || covariance.dim(0) != m || covariance.dim(1) != m)
    throw ShapeError(cat(kModel, " '", description, "': the covariance is ", covariance.str(), ", but one observation ",
                         item.str(), " has ", m, " entries, so it must be (", m, ", ", m, ")"));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < i; ++j) {
      const double a = s[std::size_t(i * m + j)], b = s[std::size_t(j * m + i)];
      if (std::fabs(a - b) > 1e-6 * std::max({std::fabs(a), std::fabs(b), 1e-30}))
        throw ArgumentError(cat(kModel, " '", description, "': the covariance is not symmetric: entry (", i, ", ", j, ") is ",
                                shortest_text(a), " but (", j, ", ", i, ") is ", shortest_text(b)));
    }
  auto cov = std::make_shared<FullCovariance>(std::move(s), m, description);
  cov->pattern(std::vector<char>(std::size_t(m), 1));  // factor now: an indefinite matrix fails here, not mid-run
  return std::make_unique<CorrelatedGaussianNoise>(std::move(cov));
}

std::unique_ptr<NoiseModel> make_low_rank_covariance_noise(const Tensor& sigma, const Tensor& factor, const Shape& item,
                                                           std::string description) {
  const std::int64_t m = item.numel();
  std::vector<double> s = finite_values(description, "sigma", sigma), f = finite_values(description, "the factor", factor);
  if (s.size() == 1) s.assign(std::size_t(m), s[0]);
  if (std::int64_t(s.size()) != m)
    throw ShapeError(cat(kModel, " '", description, "': sigma is ", sigma.str(), "; it must be one value or one per entry of an observation ",
                         item.str()));
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!(s[i] > 0)) nc::bad_parameter(kModel, description, "sigma", sigma.to_host(), sigma.numel() == 1 ? 0 : std::int64_t(i), "it must be positive");
    s[i] *= s[i];
  }
  if (factor.rank() != 2 || factor.dim(1) != m || factor.dim(0) < 1)
    throw ShapeError(cat(kModel, " '", description, "': the factor is ", factor.str(), ", but one observation ", item.str(), " has ", m,
                         " entries, so it must be (r, ", m, "), one row per correlated source"));
  auto cov = std::make_shared<LowRankCovariance>(std::move(s), std::move(f), factor.dim(0), description);
  return std::make_unique<CorrelatedGaussianNoise>(std::move(cov));
}

std::string independent_gaussian_refusal(Context& ctx, const NoiseModel& noise, const Shape& item, std::string_view because) {
  if (noise.gaussian_variance(ctx, item).defined()) return {};
  if (noise.gaussian_covariance())
    return cat("noise '", noise.describe(), "' has correlated entries, but this method needs independent ones: ", because);
  return cat("noise '", noise.describe(), "' is not Gaussian; ", because);
}

}  // namespace tweedie::samplers

#include "samplers/process.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include "runtime/error.h"
#include "samplers/processes.h"

namespace tweedie::samplers {
namespace {

constexpr double kPi = std::numbers::pi;

void require_steps(int steps, const std::string& name) {
  if (steps < 1) throw ArgumentError(cat(name, ": a time grid needs at least 1 step, not ", steps));
}

void require_finite(double value, const char* field, const std::string& where) {
  if (!std::isfinite(value)) throw ArgumentError(cat(where, ": ", field, " = ", value, " is not finite"));
}

void require_positive(double value, const char* field, const std::string& where) {
  require_finite(value, field, where);
  if (!(value > 0)) throw ArgumentError(cat(where, ": ", field, " = ", value, " must be positive"));
}

void require_less(double lo, const char* lo_field, double hi, const char* hi_field, const std::string& where) {
  if (!(lo < hi)) throw ArgumentError(cat(where, ": ", lo_field, " = ", lo, " must be less than ", hi_field, " = ", hi));
}

// steps + 1 times from hi down to lo, uniform, with both ends exact.
std::vector<double> uniform_grid(double hi, double lo, int steps) {
  std::vector<double> grid(std::size_t(steps) + 1);
  for (int i = 0; i <= steps; ++i) grid[std::size_t(i)] = hi + (lo - hi) * (double(i) / steps);
  grid.front() = hi;
  grid.back() = lo;
  return grid;
}

}  // namespace

// ---- VP and sub-VP -------------------------------------------------------------------------------------

VpProcess::VpProcess(double beta_min, double beta_max, double eps, const std::string& where)
    : beta_min_(beta_min), beta_max_(beta_max), eps_(eps) {
  require_finite(beta_min, "beta_min", where);
  require_finite(beta_max, "beta_max", where);
  if (beta_min < 0) throw ArgumentError(cat(where, ": beta_min = ", beta_min, " must not be negative"));
  require_less(beta_min, "beta_min", beta_max, "beta_max", where);
  require_positive(eps, "eps", where);
  require_less(eps, "eps", 1.0, "t_max", where);
}

double VpProcess::alpha(double t) const { return std::exp(-0.5 * integral_beta(t)); }
// 1 - alpha^2 = -expm1(-int beta) keeps its digits near t = 0, where the two terms nearly cancel.
double VpProcess::sigma(double t) const { return std::sqrt(-std::expm1(-integral_beta(t))); }
double VpProcess::drift(double t) const { return -0.5 * beta(t); }
double VpProcess::diffusion2(double t) const { return beta(t); }
std::vector<double> VpProcess::time_grid(int steps) const {
  require_steps(steps, name());
  return uniform_grid(t_max(), t_min(), steps);
}

SubVpProcess::SubVpProcess(double beta_min, double beta_max, double eps, const std::string& where)
    : VpProcess(beta_min, beta_max, eps, where) {}

double SubVpProcess::sigma(double t) const { return -std::expm1(-integral_beta(t)); }
// beta (1 - alpha^4): what d sigma^2 / dt - 2 f sigma^2 gives for sigma = 1 - alpha^2.
double SubVpProcess::diffusion2(double t) const { return beta(t) * -std::expm1(-2 * integral_beta(t)); }

// ---- VE ------------------------------------------------------------------------------------------------

VeProcess::VeProcess(double sigma_min, double sigma_max, double eps, const std::string& where)
    : sigma_min_(sigma_min), sigma_max_(sigma_max), eps_(eps) {
  require_positive(sigma_min, "sigma_min", where);
  require_positive(sigma_max, "sigma_max", where);
  require_less(sigma_min, "sigma_min", sigma_max, "sigma_max", where);
  require_positive(eps, "eps", where);
  require_less(eps, "eps", 1.0, "t_max", where);
}

double VeProcess::sigma(double t) const { return sigma_min_ * std::pow(sigma_max_ / sigma_min_, t); }
double VeProcess::diffusion2(double t) const {
  const double s = sigma(t);
  return 2 * s * s * std::log(sigma_max_ / sigma_min_);
}
std::vector<double> VeProcess::time_grid(int steps) const {
  require_steps(steps, name());
  return uniform_grid(t_max(), t_min(), steps);
}

// ---- EDM -----------------------------------------------------------------------------------------------

EdmProcess::EdmProcess(double sigma_min, double sigma_max, double rho, double sigma_data, const std::string& where)
    : sigma_min_(sigma_min), sigma_max_(sigma_max), rho_(rho), sigma_data_(sigma_data) {
  require_positive(sigma_min, "sigma_min", where);
  require_positive(sigma_max, "sigma_max", where);
  require_less(sigma_min, "sigma_min", sigma_max, "sigma_max", where);
  require_positive(rho, "rho", where);
  require_positive(sigma_data, "sigma_data", where);
}

std::vector<double> EdmProcess::time_grid(int steps) const {
  require_steps(steps, name());
  const double hi = std::pow(sigma_max_, 1 / rho_), lo = std::pow(sigma_min_, 1 / rho_);
  std::vector<double> grid(std::size_t(steps) + 1);
  for (int i = 0; i <= steps; ++i) grid[std::size_t(i)] = std::pow(hi + (double(i) / steps) * (lo - hi), rho_);
  // The power round trip can miss the ends by an ulp; the ends are the process's own t_max and t_min.
  grid.front() = sigma_max_;
  grid.back() = sigma_min_;
  return grid;
}

// ---- continuous cosine ---------------------------------------------------------------------------------

CosineProcess::CosineProcess(double s, double eps, const std::string& where) : s_(s), eps_(eps) {
  require_finite(s, "s", where);
  if (s < 0) throw ArgumentError(cat(where, ": s = ", s, " must not be negative"));
  // Stop where beta(t) = pi / (1 + s) tan(theta) reaches 999, as guided-diffusion's max_beta stops alpha_bar.
  t_max_ = std::atan(999 * (1 + s) / kPi) * 2 * (1 + s) / kPi - s;
  log_cos_theta0_ = std::log(std::cos(theta(0)));
  require_positive(eps, "eps", where);
  require_less(eps, "eps", t_max_, "t_max", where);
}

double CosineProcess::theta(double t) const { return (t + s_) / (1 + s_) * (kPi / 2); }
double CosineProcess::alpha(double t) const { return std::exp(std::log(std::cos(theta(t))) - log_cos_theta0_); }
// 1 - cos^2(theta) / cos^2(theta0) = sin(theta - theta0) sin(theta + theta0) / cos^2(theta0), without the
// cancellation near t = 0.
double CosineProcess::sigma(double t) const {
  const double th = theta(t), th0 = theta(0), c0 = std::cos(th0);
  return std::sqrt(std::max(std::sin(th - th0) * std::sin(th + th0), 0.0)) / c0;
}
double CosineProcess::drift(double t) const { return -std::tan(theta(t)) * kPi / (2 * (1 + s_)); }
// alpha^2 + sigma^2 = 1 makes g^2 = -2 f, as for VP.
double CosineProcess::diffusion2(double t) const { return -2 * drift(t); }
std::vector<double> CosineProcess::time_grid(int steps) const {
  require_steps(steps, name());
  return uniform_grid(t_max(), t_min(), steps);
}

// ---- discrete DDPM tables ------------------------------------------------------------------------------

DdpmTable::DdpmTable(std::string name, std::vector<double> betas, const std::string& where)
    : name_(std::move(name)), betas_(std::move(betas)) {
  if (betas_.size() < 2) throw ArgumentError(cat(where, ": timesteps = ", betas_.size(), " must be at least 2"));
  double prod = 1;
  for (std::size_t i = 0; i < betas_.size(); ++i) {
    const double b = betas_[i];
    if (!(b > 0 && b <= 1)) throw ArgumentError(cat(where, ": beta[", i, "] = ", b, " is outside (0, 1]"));
    prod *= 1 - b;  // numpy's cumprod, in order
    alpha_bar_.push_back(prod);
  }
}

DdpmTable DdpmTable::linear(int timesteps, const std::string& where) {
  if (timesteps < 2) throw ArgumentError(cat(where, ": timesteps = ", timesteps, " must be at least 2"));
  const double scale = 1000.0 / timesteps;
  return linear(timesteps, scale * 0.0001, scale * 0.02, where);
}

DdpmTable DdpmTable::linear(int timesteps, double beta_start, double beta_end, const std::string& where) {
  if (timesteps < 2) throw ArgumentError(cat(where, ": timesteps = ", timesteps, " must be at least 2"));
  require_positive(beta_start, "beta_start", where);
  require_finite(beta_end, "beta_end", where);
  if (beta_start > beta_end)
    throw ArgumentError(cat(where, ": beta_start = ", beta_start, " must not exceed beta_end = ", beta_end));
  if (beta_end >= 1) throw ArgumentError(cat(where, ": beta_end = ", beta_end, " must be less than 1"));
  // numpy.linspace's arithmetic (start + i * step, the last set to stop), so tables agree to the bit.
  const double step = (beta_end - beta_start) / (timesteps - 1);
  std::vector<double> betas(static_cast<std::size_t>(timesteps));
  for (int i = 0; i < timesteps; ++i) betas[std::size_t(i)] = double(i) * step + beta_start;
  betas.back() = beta_end;
  return DdpmTable("ddpm-linear", std::move(betas), where);
}

DdpmTable DdpmTable::cosine(int timesteps, double s, const std::string& where) {
  if (timesteps < 2) throw ArgumentError(cat(where, ": timesteps = ", timesteps, " must be at least 2"));
  require_finite(s, "s", where);
  if (s < 0) throw ArgumentError(cat(where, ": s = ", s, " must not be negative"));
  auto f = [s](double t) {
    const double c = std::cos((t + s) / (1 + s) * kPi / 2);
    return c * c;
  };
  std::vector<double> betas(static_cast<std::size_t>(timesteps));
  for (int i = 0; i < timesteps; ++i) {
    const double t1 = double(i) / timesteps, t2 = double(i + 1) / timesteps;
    betas[std::size_t(i)] = std::min(1 - f(t2) / f(t1), 0.999);
  }
  return DdpmTable("ddpm-cosine", std::move(betas), where);
}

std::size_t DdpmTable::index(double t) const {
  const double r = std::round(t);
  if (!(std::abs(t - r) <= 1e-9) || r < 0 || r > t_max())
    throw ArgumentError(cat(name_, ": t = ", t, " is not a step index 0..", betas_.size() - 1,
                            " of the discrete table (respaced grids keep the original indices)"));
  return std::size_t(r);
}

double DdpmTable::alpha(double t) const { return std::sqrt(alpha_bar_[index(t)]); }
double DdpmTable::sigma(double t) const { return std::sqrt(1 - alpha_bar_[index(t)]); }
double DdpmTable::drift(double) const {
  throw ArgumentError(cat(name_, ": a discrete table has no SDE; use ddpm or ddim"));
}
double DdpmTable::diffusion2(double) const {
  throw ArgumentError(cat(name_, ": a discrete table has no SDE; use ddpm or ddim"));
}

std::vector<double> DdpmTable::time_grid(int steps) const {
  require_steps(steps, name_);
  if (steps + 1 > timesteps())
    throw ArgumentError(cat(name_, ": ", steps, " steps need ", steps + 1, " grid points, more than the table's ",
                            timesteps(), " timesteps"));
  std::vector<int> kept = space_timesteps(timesteps(), steps + 1);
  return std::vector<double>(kept.rbegin(), kept.rend());
}

std::vector<int> space_timesteps(int timesteps, int count) {
  if (count < 1 || count > timesteps)
    throw ArgumentError(cat("space_timesteps: cannot take ", count, " of ", timesteps, " timesteps"));
  // Python accumulates the fractional stride and rounds half to even; both matter for which indices survive
  // (1000 into 11 keeps 599, not 600).
  const double stride = count <= 1 ? 1.0 : double(timesteps - 1) / (count - 1);
  std::vector<int> kept;
  double cur = 0;
  for (int i = 0; i < count; ++i) {
    kept.push_back(int(std::nearbyint(cur)));
    cur += stride;
  }
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
  return kept;
}

// ---- network time --------------------------------------------------------------------------------------

double Process::network_time(double t, const std::string& time_input) const {
  if (time_input == "index") {
    if (continuous())
      throw ArgumentError(cat("time_input 'index' needs a discrete table; ", name(), " is continuous"));
    if (!(std::abs(t - std::round(t)) <= 1e-9))
      throw ArgumentError(cat("time_input 'index': t = ", t, " is not a step index"));
    return std::round(t);
  }
  if (time_input == "999t") return 999 * t;
  if (time_input == "t") return t;
  if (time_input == "sigma") return sigma(t);
  if (time_input == "log-sigma") return std::log(sigma(t));
  if (time_input == "edm") return std::log(sigma(t)) / 4;
  throw ArgumentError(cat("unknown time_input '", time_input, "' (index, 999t, t, sigma, log-sigma, edm)"));
}

// ---- parsing -------------------------------------------------------------------------------------------

namespace {

// A schedule as named numbers, whichever text it came from.
struct Schedule {
  std::string kind;
  std::vector<std::pair<std::string, double>> values;
  std::string where;

  const double* find(const std::string& key) const {
    for (const auto& [k, v] : values)
      if (k == key) return &v;
    return nullptr;
  }
  double number(const std::string& key, double fallback) const {
    const double* v = find(key);
    return v ? *v : fallback;
  }
  int whole(const std::string& key, int fallback) const {
    const double* v = find(key);
    if (!v) return fallback;
    if (*v != std::floor(*v) || std::abs(*v) > 1e9)
      throw ArgumentError(cat(where, ": ", key, " = ", *v, " is not a whole number"));
    return int(*v);
  }
  void only(std::initializer_list<const char*> keys) const {
    for (const auto& entry : values) {
      const std::string& k = entry.first;
      if (std::any_of(keys.begin(), keys.end(), [&](const char* allowed) { return k == allowed; })) continue;
      std::string list;
      for (const char* allowed : keys) list += (list.empty() ? "" : ", ") + std::string(allowed);
      throw ArgumentError(cat(where, ": unknown key '", k, "' for process '", kind, "' (", list, ")"));
    }
    for (std::size_t i = 0; i < values.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (values[i].first == values[j].first) throw ArgumentError(cat(where, ": '", values[i].first, "' given twice"));
  }
};

// The model file's schedule kinds and the CLI's differ only in how they name the tables.
void require_known_kind(const std::string& kind, bool discrete_cosine, const std::string& where) {
  static const std::vector<std::string> file_kinds = {"linear", "cosine", "vp", "subvp", "ve", "edm",
                                                      "cosine-continuous", "ddpm-linear", "ddpm-cosine"};
  static const std::vector<std::string> cli_kinds = {"vp", "subvp", "ve", "edm", "cosine", "ddpm-linear", "ddpm-cosine",
                                                     "cosine-continuous"};
  const std::vector<std::string>& kinds = discrete_cosine ? file_kinds : cli_kinds;
  if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) return;
  std::string list;
  for (const std::string& k : kinds) list += (list.empty() ? "" : ", ") + k;
  throw ArgumentError(cat(where, ": unknown process kind '", kind, "' (", list, ")"));
}

// `discrete_cosine`: whether "cosine" names guided-diffusion's table (the model file's schedule) or the
// continuous process (the CLI, where the table is "ddpm-cosine").
std::unique_ptr<Process> build(const Schedule& s, bool discrete_cosine) {
  const std::string& k = s.kind;
  if (k == "vp" || k == "subvp") {
    s.only({"beta_min", "beta_max", "eps"});
    const double b0 = s.number("beta_min", 0.1), b1 = s.number("beta_max", 20), eps = s.number("eps", 1e-3);
    if (k == "vp") return std::make_unique<VpProcess>(b0, b1, eps, s.where);
    return std::make_unique<SubVpProcess>(b0, b1, eps, s.where);
  }
  if (k == "ve") {
    s.only({"sigma_min", "sigma_max", "eps"});
    return std::make_unique<VeProcess>(s.number("sigma_min", 0.01), s.number("sigma_max", 50), s.number("eps", 1e-5),
                                       s.where);
  }
  if (k == "edm") {
    s.only({"sigma_min", "sigma_max", "rho", "sigma_data"});
    return std::make_unique<EdmProcess>(s.number("sigma_min", 0.002), s.number("sigma_max", 80), s.number("rho", 7),
                                        s.number("sigma_data", 0.5), s.where);
  }
  if ((k == "cosine" && !discrete_cosine) || k == "cosine-continuous") {
    s.only({"s", "eps"});
    return std::make_unique<CosineProcess>(s.number("s", 0.008), s.number("eps", 1e-3), s.where);
  }
  if (k == "linear" || k == "ddpm-linear") {
    s.only({"timesteps", "beta_start", "beta_end"});
    const int T = s.whole("timesteps", 1000);
    if (T < 2) throw ArgumentError(cat(s.where, ": timesteps = ", T, " must be at least 2"));
    if (!s.find("beta_start") && !s.find("beta_end")) return std::make_unique<DdpmTable>(DdpmTable::linear(T, s.where));
    const double scale = 1000.0 / T;
    return std::make_unique<DdpmTable>(
        DdpmTable::linear(T, s.number("beta_start", scale * 0.0001), s.number("beta_end", scale * 0.02), s.where));
  }
  if (k == "cosine" || k == "ddpm-cosine") {
    s.only({"timesteps", "s"});
    const int T = s.whole("timesteps", 1000);
    if (T < 2) throw ArgumentError(cat(s.where, ": timesteps = ", T, " must be at least 2"));
    return std::make_unique<DdpmTable>(DdpmTable::cosine(T, s.number("s", 0.008), s.where));
  }
  require_known_kind(k, discrete_cosine, s.where);
  throw ArgumentError(cat(s.where, ": process kind '", k, "' is not built here"));
}

std::string trimmed(const std::string& text) {
  std::size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  return text.substr(b, e - b);
}

double parse_number(const std::string& key, const std::string& text, const std::string& where) {
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || !std::isfinite(x))
    throw ArgumentError(cat(where, ": ", key, " = \"", text, "\" is not a number"));
  return x;
}

}  // namespace

std::unique_ptr<Process> process_from_json(const std::string& schedule_json, const std::string& where) {
  using json = nlohmann::json;
  json j;
  try {
    j = json::parse(schedule_json);
  } catch (const json::exception& e) {
    throw ArgumentError(cat(where, ": the schedule is not valid JSON (", e.what(), ")"));
  }
  if (!j.is_object()) throw ArgumentError(cat(where, ": the schedule is ", j.dump(), ", not a JSON object"));
  if (!j.contains("kind")) throw ArgumentError(cat(where, ": the schedule has no 'kind'"));
  if (!j["kind"].is_string()) throw ArgumentError(cat(where, ": 'kind' is ", j["kind"].dump(), ", not a string"));
  Schedule s{j["kind"].get<std::string>(), {}, where};
  for (const auto& [key, value] : j.items()) {
    if (key == "kind") continue;
    if (!value.is_number()) throw ArgumentError(cat(where, ": '", key, "' is ", value.dump(), ", not a number"));
    s.values.emplace_back(key, value.get<double>());
  }
  return build(s, true);
}

std::unique_ptr<Process> process_from_spec(const std::string& spec, const std::string& where) {
  const std::size_t colon = spec.find(':');
  Schedule s{trimmed(spec.substr(0, colon)), {}, where};
  if (s.kind.empty()) throw ArgumentError(cat(where, ": no process kind in \"", spec, "\""));
  require_known_kind(s.kind, false, where);
  if (colon != std::string::npos) {
    const std::string rest = spec.substr(colon + 1);
    const bool table = s.kind == "ddpm-linear" || s.kind == "ddpm-cosine";
    std::size_t begin = 0;
    for (int item = 0;; ++item) {
      const std::size_t comma = rest.find(',', begin);
      const std::string text = trimmed(rest.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin));
      const std::size_t eq = text.find('=');
      if (text.empty()) throw ArgumentError(cat(where, ": empty setting in \"", spec, "\""));
      if (eq == std::string::npos) {
        // "ddpm-linear:1000": a table's first setting may be its bare step count.
        if (!table || item != 0)
          throw ArgumentError(cat(where, ": setting \"", text, "\" in \"", spec, "\" is not key=value"));
        s.values.emplace_back("timesteps", parse_number("timesteps", text, where));
      } else {
        const std::string key = trimmed(text.substr(0, eq));
        s.values.emplace_back(key, parse_number(key, trimmed(text.substr(eq + 1)), where));
      }
      if (comma == std::string::npos) break;
      begin = comma + 1;
    }
  }
  return build(s, false);
}

double time_of_noise_level(const Process& process, double noise_level) {
  if (!(noise_level > 0) || !std::isfinite(noise_level))
    throw ArgumentError(cat("noise level ", noise_level, " must be finite and > 0"));
  auto ratio = [&](double t) { return process.sigma(t) / process.alpha(t); };
  double lo = process.t_min(), hi = process.t_max(), low = ratio(lo), high = ratio(hi);
  // sigma/alpha grows with t for every process here; a level a hair outside [low, high] is rounding.
  if (noise_level < low * (1 - 1e-9) || noise_level > high * (1 + 1e-9))
    throw ArgumentError(cat("noise level ", noise_level, " is outside what the ", process.name(),
                            " process reaches (sigma/alpha from ", low, " to ", high, ")"));
  if (!process.continuous()) {
    // The nearest index in log ratio: a table's network only knows integer times.
    double best = lo, distance = std::numeric_limits<double>::infinity();
    for (double t = lo; t <= hi; t += 1) {
      double d = std::abs(std::log(ratio(t) / noise_level));
      if (d < distance) distance = d, best = t;
    }
    return best;
  }
  for (int k = 0; k < 200 && hi - lo > 1e-15 * std::max(1.0, std::abs(hi)); ++k) {
    double mid = 0.5 * (lo + hi);
    (ratio(mid) < noise_level ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace tweedie::samplers

#include "samplers/process.h"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <numbers>

#include "runtime/error.h"
#include "samplers/processes.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

constexpr double kPi = std::numbers::pi;

double relative(double got, double want) { return std::abs(got - want) / std::max(std::abs(want), 1e-300); }

// f = d log alpha / dt and g^2 = d sigma^2 / dt - 2 f sigma^2 by central differences, against the process's
// closed forms, at times spread over [t_min, t_max].
void check_sde_against_differences(const Process& p) {
  CAPTURE(p.name());
  for (int i = 0; i <= 8; ++i) {
    const double t = p.t_min() + (p.t_max() - p.t_min()) * (0.02 + 0.96 * i / 8.0);
    CAPTURE(t);
    const double h = 1e-5 * std::max(1.0, t);
    const double f = (std::log(p.alpha(t + h)) - std::log(p.alpha(t - h))) / (2 * h);
    const double ds2 = (std::pow(p.sigma(t + h), 2) - std::pow(p.sigma(t - h), 2)) / (2 * h);
    const double g2 = ds2 - 2 * f * std::pow(p.sigma(t), 2);
    CHECK(std::abs(p.drift(t) - f) <= 1e-6 * std::max(1.0, std::abs(f)));
    CHECK(relative(p.diffusion2(t), g2) < 1e-6);
  }
}

// Runs `fn`, which must throw ArgumentError, and checks its message holds every piece.
void check_error(const std::function<void()>& fn, std::initializer_list<const char*> pieces) {
  std::string message;
  try {
    fn();
  } catch (const ArgumentError& e) {
    message = e.what();
  }
  CAPTURE(message);
  REQUIRE(!message.empty());
  for (const char* piece : pieces) CHECK(message.find(piece) != std::string::npos);
}

// alpha_bar_i = prod_{j <= i} (1 - beta_j) with betas written out independently of the library.
std::vector<double> cumulative_product(const std::function<double(int)>& beta, int timesteps) {
  std::vector<double> out;
  double prod = 1;
  for (int i = 0; i < timesteps; ++i) out.push_back(prod *= 1 - beta(i));
  return out;
}

}  // namespace

TEST_CASE("The SDE drift and diffusion of every continuous process match finite differences of alpha and sigma") {
  check_sde_against_differences(VpProcess());
  check_sde_against_differences(VpProcess(0.5, 7.0));
  check_sde_against_differences(SubVpProcess());
  check_sde_against_differences(VeProcess());
  check_sde_against_differences(VeProcess(0.002, 380));
  check_sde_against_differences(EdmProcess());
  check_sde_against_differences(CosineProcess());
  check_sde_against_differences(CosineProcess(0.0, 1e-2));
}

TEST_CASE("VP and the continuous cosine preserve unit variance, and sub-VP's sigma is one minus alpha squared") {
  VpProcess vp;
  CosineProcess cosine;
  SubVpProcess subvp;
  for (double t : {1e-3, 0.01, 0.3, 0.7, 0.99}) {
    CAPTURE(t);
    CHECK(std::abs(std::pow(vp.alpha(t), 2) + std::pow(vp.sigma(t), 2) - 1) < 1e-14);
    CHECK(std::abs(std::pow(cosine.alpha(t), 2) + std::pow(cosine.sigma(t), 2) - 1) < 1e-14);
    CHECK(subvp.alpha(t) == vp.alpha(t));
    CHECK(relative(subvp.sigma(t), 1 - std::pow(vp.alpha(t), 2)) < 1e-12);
    CHECK(subvp.sigma(t) < vp.sigma(t));  // sub-VP has less noise than VP at every t > 0
  }
  // Near t = 0 sigma must keep its digits (1 - alpha^2 would cancel): sigma^2 ~ beta_min t.
  CHECK(relative(std::pow(vp.sigma(1e-9), 2), 0.1e-9) < 1e-6);
}

TEST_CASE("Processes take their known values at the ends of their time ranges") {
  // VP with beta 0.1..20: int_0^1 beta = (0.1 + 20) / 2, alpha(1) = exp(-(0.1 + 20) / 4).
  VpProcess vp;
  CHECK(relative(vp.alpha(1), std::exp(-20.1 / 4)) < 1e-14);
  CHECK(relative(vp.alpha(0.5), std::exp(-0.5 * (0.1 * 0.5 + 0.5 * 0.25 * 19.9))) < 1e-14);
  CHECK(vp.t_min() == 1e-3);
  CHECK(vp.t_max() == 1);
  CHECK(vp.drift(1) == -10);
  CHECK(vp.diffusion2(0) == doctest::Approx(0.1).epsilon(1e-15));

  VeProcess ve;
  CHECK(relative(ve.sigma(0), 0.01) < 1e-15);
  CHECK(relative(ve.sigma(1), 50) < 1e-14);
  CHECK(relative(ve.sigma(0.5), std::sqrt(0.01 * 50)) < 1e-14);
  CHECK(ve.alpha(0.3) == 1);
  CHECK(ve.t_min() == 1e-5);

  EdmProcess edm;
  CHECK(edm.t_min() == 0.002);
  CHECK(edm.t_max() == 80);
  CHECK(edm.sigma(3.5) == 3.5);
  CHECK(edm.diffusion2(3.5) == 7);
  CHECK(edm.rho() == 7);
  CHECK(edm.sigma_data() == 0.5);

  // Continuous cosine: alpha = cos(theta) / cos(theta_0); t_max is where beta = -2 f reaches 999
  // (0.9979980044931365 from Python: atan(999 * 1.008 / pi) * 2 * 1.008 / pi - 0.008).
  CosineProcess cosine;
  CHECK(relative(cosine.alpha(0.5), std::cos(0.508 / 1.008 * kPi / 2) / std::cos(0.008 / 1.008 * kPi / 2)) < 1e-14);
  CHECK(relative(cosine.t_max(), 0.9979980044931365) < 1e-14);
  CHECK(relative(cosine.diffusion2(cosine.t_max()), 999) < 1e-10);
  CHECK(cosine.alpha(cosine.t_max()) > 0);
  CHECK(cosine.alpha(cosine.t_max()) < 0.01);
  CHECK(cosine.t_min() == 1e-3);
}

TEST_CASE("DDPM linear and cosine tables match an independent product loop and guided-diffusion's numbers") {
  for (int T : {1000, 250}) {
    CAPTURE(T);
    DdpmTable linear = DdpmTable::linear(T), cosine = DdpmTable::cosine(T);
    CHECK(linear.name() == "ddpm-linear");
    CHECK(cosine.name() == "ddpm-cosine");
    CHECK(!linear.continuous());
    CHECK(linear.t_min() == 0);
    CHECK(linear.t_max() == T - 1);
    const double scale = 1000.0 / T;
    std::vector<double> want_linear = cumulative_product(
        [&](int i) { return scale * 1e-4 + (scale * 0.02 - scale * 1e-4) * i / (T - 1); }, T);
    auto f = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * kPi / 2), 2); };
    std::vector<double> want_cosine =
        cumulative_product([&](int i) { return std::min(1 - f((i + 1.0) / T) / f(double(i) / T), 0.999); }, T);
    for (int i : {0, 1, 17, T / 2, T - 2, T - 1}) {
      CAPTURE(i);
      CHECK(relative(linear.alpha(i), std::sqrt(want_linear[std::size_t(i)])) < 1e-12);
      CHECK(relative(linear.sigma(i), std::sqrt(1 - want_linear[std::size_t(i)])) < 1e-12);
      CHECK(relative(cosine.alpha(i), std::sqrt(want_cosine[std::size_t(i)])) < 1e-12);
      CHECK(relative(cosine.sigma(i), std::sqrt(1 - want_cosine[std::size_t(i)])) < 1e-12);
    }
  }
  // Golden values: numpy.cumprod(1 - betas) with betas from guided-diffusion's get_named_beta_schedule
  // ("linear": np.linspace(scale * 1e-4, scale * 0.02, T, dtype=np.float64); "cosine": betas_for_alpha_bar
  // with max_beta 0.999), computed with numpy 64-bit floats in Python.
  DdpmTable linear = DdpmTable::linear(1000), cosine = DdpmTable::cosine(1000);
  CHECK(linear.betas()[1] == doctest::Approx(0.00011991991991991993).epsilon(1e-15));
  CHECK(relative(linear.alphas_cumprod()[1], 0.9997800920720721) < 1e-15);
  CHECK(relative(linear.alphas_cumprod()[500], 0.07779665836502389) < 1e-13);
  CHECK(relative(linear.alphas_cumprod()[999], 4.035829765375676e-05) < 1e-12);
  CHECK(relative(cosine.alphas_cumprod()[0], 0.999958715775178) < 1e-15);
  CHECK(relative(cosine.alphas_cumprod()[500], 0.49228517244880304) < 1e-13);
  CHECK(relative(cosine.betas()[998], 0.7499993929011166) < 1e-12);
  CHECK(cosine.betas()[999] == 0.999);
  CHECK(relative(cosine.alphas_cumprod()[999], 2.4287669070348567e-09) < 1e-11);
  DdpmTable linear250 = DdpmTable::linear(250);
  CHECK(relative(linear250.alphas_cumprod()[125], 0.07403081329824181) < 1e-13);
  CHECK(relative(linear250.alphas_cumprod()[249], 3.264409135490725e-05) < 1e-12);
}

TEST_CASE("Respaced table grids are guided-diffusion's space_timesteps with steps + 1 points, decreasing") {
  // Index sets from guided-diffusion's respace.space_timesteps run in Python.
  DdpmTable table = DdpmTable::linear(1000);
  CHECK(table.time_grid(9) == std::vector<double>{999, 888, 777, 666, 555, 444, 333, 222, 111, 0});
  // space_timesteps(1000, [11]): the accumulated stride 99.9 gives 599, not 600.
  CHECK(table.time_grid(10) == std::vector<double>{999, 899, 799, 699, 599, 500, 400, 300, 200, 100, 0});
  std::vector<double> fifty = table.time_grid(50);
  REQUIRE(fifty.size() == 51);
  CHECK(fifty[0] == 999);
  CHECK(fifty[24] == 519);  // space_timesteps(1000, [51]) holds 500, 519, 539: not 520
  CHECK(fifty[25] == 500);
  CHECK(fifty[50] == 0);
  CHECK(space_timesteps(250, 26) == std::vector<int>{0,   10,  20,  30,  40,  50,  60,  70,  80,  90,  100, 110, 120,
                                                     129, 139, 149, 159, 169, 179, 189, 199, 209, 219, 229, 239, 249});
  // Python's round(2.5) == 2: halves go to even.
  CHECK(space_timesteps(6, 3) == std::vector<int>{0, 2, 5});
  CHECK(space_timesteps(7, 4) == std::vector<int>{0, 2, 4, 6});
  // Every index, and no more than that.
  std::vector<double> all = DdpmTable::linear(8, 0.1, 0.5).time_grid(7);
  CHECK(all == std::vector<double>{7, 6, 5, 4, 3, 2, 1, 0});
  check_error([] { DdpmTable::linear(8, 0.1, 0.5).time_grid(8); }, {"ddpm-linear", "8 steps", "8 timesteps"});
  check_error([] { DdpmTable::linear(8, 0.1, 0.5).time_grid(0); }, {"ddpm-linear", "at least 1 step"});
  // Respacing keeps the original table: alpha at a kept index is the full table's.
  for (double t : table.time_grid(10)) CHECK(table.alpha(t) == std::sqrt(table.alphas_cumprod()[std::size_t(t)]));
}

TEST_CASE("A discrete table has alpha and sigma only at integer indices and no SDE") {
  DdpmTable table = DdpmTable::cosine(100);
  CHECK(table.alpha(42) > 0);
  check_error([&] { table.alpha(41.5); }, {"ddpm-cosine", "41.5", "not a step index"});
  check_error([&] { table.sigma(100); }, {"ddpm-cosine", "100"});
  check_error([&] { table.sigma(-1); }, {"ddpm-cosine", "-1"});
  check_error([&] { table.drift(3); }, {"ddpm-cosine", "no SDE", "ddpm or ddim"});
  check_error([&] { table.diffusion2(3); }, {"ddpm-cosine", "no SDE", "ddpm or ddim"});
}

TEST_CASE("Continuous time grids run uniformly from t_max to t_min") {
  VpProcess vp;
  std::vector<double> g = vp.time_grid(4);
  REQUIRE(g.size() == 5);
  CHECK(g.front() == 1);
  CHECK(g.back() == 1e-3);
  for (int i = 0; i <= 4; ++i) CHECK(g[std::size_t(i)] == doctest::Approx(1 - 0.999 * i / 4).epsilon(1e-15));
  CosineProcess cosine;
  std::vector<double> c = cosine.time_grid(1);
  CHECK(c == std::vector<double>{cosine.t_max(), cosine.t_min()});
  CHECK(VeProcess().time_grid(3).back() == 1e-5);
  CHECK(SubVpProcess().time_grid(7).size() == 8);
  check_error([] { VeProcess().time_grid(0); }, {"ve", "at least 1 step"});
}

TEST_CASE("The EDM grid is Karras' rho grid from sigma_max down to exactly sigma_min") {
  EdmProcess edm;
  for (int n : {1, 2, 18, 256}) {
    CAPTURE(n);
    std::vector<double> g = edm.time_grid(n);
    REQUIRE(g.size() == std::size_t(n) + 1);
    CHECK(g.front() == 80);
    CHECK(g.back() == 0.002);
    for (int i = 0; i < n; ++i) CHECK(g[std::size_t(i)] > g[std::size_t(i) + 1]);
    for (int i = 0; i <= n; ++i) {
      const double a = std::pow(80.0, 1 / 7.0), b = std::pow(0.002, 1 / 7.0);
      CHECK(relative(g[std::size_t(i)], std::pow(a + (b - a) * i / n, 7)) < 1e-13);
    }
  }
  // rho = 1 is uniform in sigma.
  std::vector<double> uniform = EdmProcess(1, 5, 1).time_grid(4);
  for (int i = 0; i <= 4; ++i) CHECK(uniform[std::size_t(i)] == doctest::Approx(5 - i).epsilon(1e-15));
}

TEST_CASE("network_time maps t to each time_input convention") {
  VpProcess vp;
  CHECK(vp.network_time(0.5, "999t") == 499.5);
  CHECK(vp.network_time(0.25, "t") == 0.25);
  CHECK(vp.network_time(0.5, "sigma") == vp.sigma(0.5));
  CHECK(vp.network_time(0.5, "log-sigma") == std::log(vp.sigma(0.5)));
  EdmProcess edm;
  CHECK(edm.network_time(2.0, "edm") == doctest::Approx(std::log(2.0) / 4).epsilon(1e-15));
  CHECK(edm.network_time(2.0, "sigma") == 2.0);
  DdpmTable table = DdpmTable::linear(1000);
  CHECK(table.network_time(999, "index") == 999);
  CHECK(table.network_time(0, "index") == 0);
  check_error([&] { table.network_time(3.25, "index"); }, {"index", "3.25"});
  check_error([&] { vp.network_time(0.5, "index"); }, {"index", "vp", "continuous"});
  check_error([&] { vp.network_time(0.5, "seconds"); }, {"time_input", "'seconds'"});
}

TEST_CASE("process_from_spec reads the CLI's kinds, settings and defaults") {
  auto vp = process_from_spec("vp", "--process");
  CHECK(vp->name() == "vp");
  CHECK(relative(vp->alpha(1), std::exp(-20.1 / 4)) < 1e-14);
  auto vp2 = process_from_spec("vp:beta_min=0.5,beta_max=10,eps=1e-4", "--process");
  CHECK(relative(vp2->alpha(1), std::exp(-10.5 / 4)) < 1e-14);
  CHECK(vp2->t_min() == 1e-4);
  CHECK(process_from_spec("subvp", "--process")->name() == "subvp");
  auto ve = process_from_spec("ve: sigma_min=0.002, sigma_max=378", "--process");
  CHECK(relative(ve->sigma(1), 378) < 1e-14);
  auto edm = process_from_spec("edm:sigma_min=0.01,sigma_max=10,rho=3", "--process");
  CHECK(edm->t_max() == 10);
  CHECK(edm->time_grid(2)[1] == doctest::Approx(std::pow((std::cbrt(10.0) + std::cbrt(0.01)) / 2, 3)));
  auto cosine = process_from_spec("cosine", "--process");
  CHECK(cosine->name() == "cosine");
  CHECK(cosine->continuous());
  auto linear = process_from_spec("ddpm-linear:1000", "--process");
  CHECK(!linear->continuous());
  CHECK(linear->t_max() == 999);
  CHECK(relative(linear->sigma(500), std::sqrt(1 - 0.07779665836502389)) < 1e-13);
  CHECK(process_from_spec("ddpm-cosine:250", "--process")->t_max() == 249);
  CHECK(process_from_spec("ddpm-cosine", "--process")->t_max() == 999);
  auto custom = process_from_spec("ddpm-linear:100,beta_start=0.001,beta_end=0.1", "--process");
  CHECK(relative(custom->alpha(0), std::sqrt(0.999)) < 1e-15);
}

TEST_CASE("process_from_json reads model-file schedules, where linear and cosine are DDPM tables") {
  auto linear = process_from_json(R"({"kind": "linear", "timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02})",
                                  "model.h5");
  CHECK(linear->name() == "ddpm-linear");
  CHECK(relative(linear->alpha(999), std::sqrt(4.035829765375676e-05)) < 1e-12);
  auto cosine = process_from_json(R"({"kind": "cosine", "timesteps": 4000, "s": 0.008})", "model.h5");
  CHECK(cosine->name() == "ddpm-cosine");
  CHECK(cosine->t_max() == 3999);
  auto vp = process_from_json(R"({"kind": "vp", "beta_min": 0.1, "beta_max": 20})", "model.h5");
  CHECK(vp->name() == "vp");
  CHECK(vp->t_min() == 1e-3);
  auto ve = process_from_json(R"({"kind": "ve", "sigma_min": 0.01, "sigma_max": 348})", "model.h5");
  CHECK(relative(ve->sigma(1), 348) < 1e-14);
  auto edm = process_from_json(R"({"kind": "edm", "sigma_min": 0.002, "sigma_max": 80, "sigma_data": 0.5, "rho": 7})",
                               "model.h5");
  CHECK(dynamic_cast<const EdmProcess&>(*edm).sigma_data() == 0.5);
  CHECK(process_from_json(R"({"kind": "subvp"})", "model.h5")->name() == "subvp");
  CHECK(process_from_json(R"({"kind": "cosine-continuous"})", "model.h5")->continuous());
}

TEST_CASE("The process parsers reject bad schedules, naming where and the field") {
  const char* w = "--process";
  check_error([&] { process_from_spec("vpx", w); }, {w, "unknown process kind 'vpx'"});
  check_error([&] { process_from_spec("", w); }, {w, "no process kind"});
  check_error([&] { process_from_spec("vp:beta=3", w); }, {w, "unknown key 'beta'", "beta_min"});
  check_error([&] { process_from_spec("vp:beta_min=abc", w); }, {w, "beta_min", "abc", "not a number"});
  check_error([&] { process_from_spec("vp:beta_min=1x", w); }, {w, "beta_min", "not a number"});
  check_error([&] { process_from_spec("vp:beta_min=", w); }, {w, "beta_min", "not a number"});
  check_error([&] { process_from_spec("vp:beta_min=20,beta_max=0.1", w); }, {w, "beta_min = 20", "beta_max = 0.1"});
  check_error([&] { process_from_spec("vp:beta_min=1,beta_min=2", w); }, {w, "beta_min", "twice"});
  check_error([&] { process_from_spec("vp:eps=0", w); }, {w, "eps", "positive"});
  check_error([&] { process_from_spec("vp:eps=1.5", w); }, {w, "eps = 1.5", "t_max"});
  check_error([&] { process_from_spec("vp:beta_min=0.1,", w); }, {w, "empty setting"});
  check_error([&] { process_from_spec("vp:0.1", w); }, {w, "\"0.1\"", "not key=value"});
  check_error([&] { process_from_spec("ve:sigma_min=50,sigma_max=50", w); }, {w, "sigma_min = 50", "sigma_max"});
  check_error([&] { process_from_spec("ve:sigma_min=-1", w); }, {w, "sigma_min", "positive"});
  check_error([&] { process_from_spec("edm:sigma_min=90", w); }, {w, "sigma_min = 90", "sigma_max = 80"});
  check_error([&] { process_from_spec("edm:rho=0", w); }, {w, "rho", "positive"});
  check_error([&] { process_from_spec("edm:eps=0.1", w); }, {w, "unknown key 'eps'", "edm"});
  check_error([&] { process_from_spec("cosine:s=-0.1", w); }, {w, "s = -0.1"});
  check_error([&] { process_from_spec("ddpm-linear:1", w); }, {w, "timesteps = 1", "at least 2"});
  check_error([&] { process_from_spec("ddpm-linear:10.5", w); }, {w, "timesteps = 10.5", "whole number"});
  check_error([&] { process_from_spec("ddpm-linear:100,beta_start=0.1,beta_end=0.01", w); },
              {w, "beta_start = 0.1", "beta_end = 0.01"});
  check_error([&] { process_from_spec("ddpm-linear:100,beta_end=1.5", w); }, {w, "beta_end = 1.5"});
  check_error([&] { process_from_spec("ddpm-cosine:100,beta_end=0.1", w); }, {w, "unknown key 'beta_end'"});
  check_error([&] { process_from_spec("ddpm-linear:100,200", w); }, {w, "\"200\"", "not key=value"});
  check_error([&] { process_from_spec("linear:1000", w); }, {w, "unknown process kind 'linear'"});

  const char* m = "model.h5 diffusion";
  check_error([&] { process_from_json("{", m); }, {m, "not valid JSON"});
  check_error([&] { process_from_json("[1, 2]", m); }, {m, "not a JSON object"});
  check_error([&] { process_from_json(R"({"beta_min": 1})", m); }, {m, "no 'kind'"});
  check_error([&] { process_from_json(R"({"kind": 3})", m); }, {m, "'kind'", "not a string"});
  check_error([&] { process_from_json(R"({"kind": "sde"})", m); }, {m, "unknown process kind 'sde'"});
  check_error([&] { process_from_json(R"({"kind": "vp", "beta_max": "20"})", m); }, {m, "'beta_max'", "not a number"});
  check_error([&] { process_from_json(R"({"kind": "vp", "beta_max": 0.01})", m); }, {m, "beta_min = 0.1", "beta_max"});
  check_error([&] { process_from_json(R"({"kind": "linear", "timesteps": 1})", m); }, {m, "timesteps = 1"});
  check_error([&] { process_from_json(R"({"kind": "linear", "timesteps": 1000, "steps": 4})", m); },
              {m, "unknown key 'steps'", "timesteps"});
  check_error([&] { process_from_json(R"({"kind": "cosine", "timesteps": 99.5})", m); },
              {m, "timesteps = 99.5", "whole number"});
  check_error([&] { process_from_json(R"({"kind": "edm", "sigma_data": 0})", m); }, {m, "sigma_data", "positive"});
}

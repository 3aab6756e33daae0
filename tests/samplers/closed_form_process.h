#pragma once
// A noising process in closed form for the denoisers' tests, independent of samplers/process.cpp:
// alpha = cos(pi t / 2), sigma = sin(pi t / 2).
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "samplers/process.h"

namespace tweedie::test {

class TrigProcess final : public samplers::Process {
 public:
  std::string name() const override { return "test-trig"; }
  double alpha(double t) const override { return std::cos(0.5 * std::numbers::pi * t); }
  double sigma(double t) const override { return std::sin(0.5 * std::numbers::pi * t); }
  double drift(double t) const override { return -0.5 * std::numbers::pi * std::tan(0.5 * std::numbers::pi * t); }
  double diffusion2(double t) const override { return -2 * drift(t); }
  double t_min() const override { return 1e-3; }
  double t_max() const override { return 1 - 1e-3; }
  std::vector<double> time_grid(int steps) const override {
    std::vector<double> g;
    for (int i = 0; i <= steps; ++i) g.push_back(t_max() + (t_min() - t_max()) * i / steps);
    return g;
  }
};

}  // namespace tweedie::test

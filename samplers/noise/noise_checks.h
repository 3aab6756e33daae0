#pragma once
// Checks and messages shared by the noise models (private to samplers/noise/).
//
// Errors name the model ("poisson noise"), the tensor and both shapes; validation errors start with the
// caller's `where` and name the first bad entry by its multi-index in y and its value.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::samplers::noise_checks {

// The batch size of z, a (N, item...) tensor on ctx's device: f32, or c64 when complex_ok.
std::int64_t batch_of(const Context& ctx, const char* model, const Tensor& z, bool complex_ok);
// t (named `name`: "y", "g") has z's shape and type and lives on ctx's device.
void expect_like_z(const Context& ctx, const char* model, const char* name, const Tensor& t, const Tensor& z);
// An output: allocated like z on ctx's device when undefined, otherwise checked like expect_like_z.
void prepare_output(const Context& ctx, const char* model, const char* name, Tensor& out, const Tensor& z);
// A per-entry tensor (the observed mask, sigma, trials), undefined or f32 with one value per entry of
// an item of z (z.numel() / batch); returned on ctx's device, copied there if it lives elsewhere.
Tensor entry_tensor(const Context& ctx, const char* model, const char* name, const Tensor& t, const Tensor& z,
                    std::int64_t batch);

// Validation of observations: y's type must be f32 (or c64 when complex_ok), and `observed` (undefined
// or one value per entry of an item) must fit it. Returns y and observed copied to the host.
struct HostObservation {
  Tensor y, observed;
  std::int64_t entries;  // per item
  bool seen(std::int64_t flat) const { return !observed.defined() || observed.data<float>()[flat % entries] != 0.0f; }
};
HostObservation host_observation(std::string_view where, const char* model, const Tensor& y, const Tensor& observed,
                                 bool complex_ok);
// Throws ArgumentError: "<where>: entry <index> is <value>, but <rule>".
[[noreturn]] void bad_entry(std::string_view where, const Shape& shape, std::int64_t flat, const std::string& value,
                            std::string_view rule);

// The host copy of a per-entry parameter given at construction, checked entry by entry: f32, every
// value finite and ok(value); otherwise ArgumentError naming the model, the description and the entry.
template <class Ok>
Tensor checked_parameter(const char* model, const std::string& description, const char* name, const Tensor& t,
                         std::string_view rule, Ok ok);

// ---- implementation of the template ----

[[noreturn]] void bad_parameter(const char* model, const std::string& description, const char* name, const Tensor& t,
                                std::int64_t flat, std::string_view rule);
void expect_parameter_tensor(const char* model, const std::string& description, const char* name, const Tensor& t);

template <class Ok>
Tensor checked_parameter(const char* model, const std::string& description, const char* name, const Tensor& t,
                         std::string_view rule, Ok ok) {
  expect_parameter_tensor(model, description, name, t);
  Tensor host = t.to_host();
  const float* v = host.data<float>();
  for (std::int64_t i = 0; i < host.numel(); ++i)
    if (!std::isfinite(v[i]) || !ok(double(v[i]))) bad_parameter(model, description, name, host, i, rule);
  return host;
}

}  // namespace tweedie::samplers::noise_checks

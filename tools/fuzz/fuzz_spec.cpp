// Operator and noise specs (io/operator_spec.h), the strings `simulate`, `apply` and `solve` take and
// observation files store. An input is "OPERATOR\nNOISE" (either part may be empty), built as
// `simulate` would on a small fixed image, so that no spec can make the harness run a large operator.
// Specs that name data files reach the filesystem, which the fuzzer rarely names; the point here is
// the text: fields, numbers, sizes, JSON. Whatever builds must describe itself in a canonical spec that
// builds the same thing again, since observation files keep only that spec.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/operator_spec.h"
#include "tools/fuzz/fuzz_target.h"

namespace {

using tweedie::samplers::Signal;

constexpr std::size_t kMaxSpec = 4096;

// A canonical spec that does not rebuild into itself is a bug, not a refusal: fail loudly.
void check_canonical(const std::string& kind, const std::string& canonical, const std::string& again) {
  if (canonical == again) return;
  std::fprintf(stderr, "canonical %s spec '%s' rebuilds as '%s'\n", kind.c_str(), canonical.c_str(), again.c_str());
  std::abort();
}

}  // namespace

TWEEDIE_FUZZ_TARGET(spec)(const std::uint8_t* data, std::size_t size) {
  // FFT operators plan when built; FFTW's measured planning takes seconds under the sanitizers, and
  // what is fuzzed here is the text, not the planner. A setting from the environment wins.
  static const bool planning_set = setenv("TWEEDIE_FFTW_PLANNING", "estimate", 0) == 0;
  (void)planning_set;
  if (size > kMaxSpec) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = text.find('\n');
  const std::string op_spec = text.substr(0, newline);
  const std::string noise_spec = newline == std::string::npos ? "" : text.substr(newline + 1);
  const tweedie::Device cpu = tweedie::Device::cpu();
  const tweedie::SpecOptions options{"--operator", 7, ""};

  Signal y{tweedie::Shape{2, 12, 10}, tweedie::DType::f32};
  tweedie::fuzz::refuse_cleanly([&] {
    const tweedie::BuiltOperator op = tweedie::build_operator(op_spec, y, cpu, options);
    const std::string canonical = op.op->describe();
    check_canonical("operator", canonical, tweedie::build_operator(canonical, y, cpu).op->describe());
    y = op.op->output();
  });
  if (noise_spec.empty()) return 0;
  return tweedie::fuzz::refuse_cleanly([&] {
    const tweedie::BuiltNoise noise = tweedie::build_noise(noise_spec, y, cpu, options);
    if (!noise.noise) return;
    const std::string canonical = noise.noise->describe();
    const tweedie::BuiltNoise again = tweedie::build_noise(canonical, y, cpu);
    check_canonical("noise", canonical, again.noise ? again.noise->describe() : "none");
  });
}

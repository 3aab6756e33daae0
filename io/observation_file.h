#pragma once
// Observation files: the data y of an inverse problem together with everything that defines its
// likelihood, so that a solver needs this one file (and a prior). Written by `tweedie simulate`, or by
// hand (h5py) for real measurements; the layout is in FORMAT.md:
//
//   y                 (N, output...) f32 or c64     the observations, first axis the items
//   observed          output item shape, f32 0/1    measured entries (when the operator has structural zeros)
//   operator/..., noise/...                         datasets the specs name as #operator/<field>
//   attributes of /   tweedie = "observation", operator, noise (specs), x_shape ("C,H,W"), x_dtype (f32|c64)
#include <cstdint>
#include <string>

#include "io/operator_spec.h"
#include "runtime/tensor.h"

namespace tweedie {

struct Observation {
  std::string path;
  Tensor y;
  samplers::Signal x;   // one unknown item
  BuiltOperator op;
  BuiltNoise noise;     // noise.noise is null for "none"
};

// Reads and checks an observation file: the specs must build, y must fit the operator's output and be a
// possible draw of the noise model (counts, NaN); errors name the file and dataset.
Observation load_observation(const std::string& path, Device device);

// Throws if y cannot be observations of this operator and noise model (shape and type; counts, NaN);
// messages start with `where`.
void check_observations(const Tensor& y, const BuiltOperator& op, const BuiltNoise& noise, const std::string& where);

// Writes y with the operator and noise model that produced it. Datasets the specs read from other files
// are copied in and the specs rewritten to point at the copies, so the file stands alone. Extra root
// attributes (seed, source of x) come as name/value pairs.
void save_observation(const std::string& path, const Tensor& y, const samplers::Signal& x, const BuiltOperator& op, const BuiltNoise& noise,
                      const std::vector<std::pair<std::string, std::string>>& attributes = {});

}  // namespace tweedie

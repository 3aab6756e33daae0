#pragma once
// Forward operators and noise models from short text specs, the form the command line and files use.
//
// A spec is a kind followed by ':'-separated fields, positional or NAME=VALUE:
//
//   identity                          inpaint:p=0.25   inpaint:box=8,8,16,16   inpaint:mask=m.h5
//   sr:4   sr:4:avg                   blur:gauss:61:3  blur:motion:31:0.5      blur:kernel=k.h5
//   matrix:a=A.h5                     mri:R=4:centre=24   mri:mask=mask.h5:coils=maps.h5
//   mri:traj=radial:R=4               mri:traj=spiral:interleaves=8   mri:traj=traj.h5#coord (non-Cartesian, NUFFT)
//   nufft:traj=traj.h5#coord          (the same as mri:traj=...)
//   phase:pad=16                      OP|OP             (a pipeline: the left one acts first)
//   matrix:random=2:seed=5            each:SPEC         (one operator per observation, samplers/operators/stacked_operator.h)
//
//   gaussian:sigma=0.05   poisson:scale=20:link=exp   binomial:n=100   none
//   gaussian:cov=cov.h5   gaussian:sigma=0.01:factor=f.h5   (correlated noise, samplers/noise/noise_model.h)
//
// A field that names data takes FILE, FILE#DATASET, or #DATASET (a dataset of the HDF5 file the spec
// was read from). A spec may also be the path of a JSON file (or inline JSON: an object with "kind",
// optional "args" and the named fields; an array of objects for a pipeline), or of an HDF5 file whose
// root attribute `operator` (or `noise`) holds a spec, such as the observations `tweedie simulate`
// writes. README.md lists every kind and field; errors name the flag, the spec and the bad field.
//
// 'each:SPEC' gives observation i its own operator, SPEC built with seed + i and with every dataset it
// names read at index i of the dataset's first axis, which must have one entry per observation: the
// masks (N, C, H, W) of 'each:inpaint:mask=#operator/masks', or 'each:inpaint:p=0.25' for N random masks.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/nufft.h"
#include "runtime/device.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/operator.h"

namespace tweedie {

// Where a spec comes from and what fills its gaps.
struct SpecOptions {
  std::string flag = "--operator";  // named in errors
  std::uint64_t seed = 0;           // for random masks and kernels without seed=
  std::string base_file;            // the HDF5 file '#DATASET' refers to
  // Observations in the data: 'each:SPEC' builds one operator per observation, so it needs their number
  // (a file of y knows it; simulate takes it from x).
  std::int64_t items = 0;
};

// A dataset a spec read: the field that named it, and the resolved file and dataset.
struct SpecData {
  std::string field, file, dataset;
  std::string reference() const { return file + "#" + dataset; }
};

// The operator or noise model, with its canonical spec (describe()), and the data it read.
struct BuiltOperator {
  std::shared_ptr<samplers::Operator> op;
  std::vector<SpecData> data;
};
struct BuiltNoise {
  std::shared_ptr<samplers::NoiseModel> noise;  // null for "none"
  std::vector<SpecData> data;
};

BuiltOperator build_operator(const std::string& spec, const samplers::Signal& x, Device device, const SpecOptions& options = {});
BuiltNoise build_noise(const std::string& spec, const samplers::Signal& y, Device device, const SpecOptions& options = {});

// Where an MRI spec (mri or nufft, one stage) samples k-space, for tools that work on the data itself
// (tweedie coils): a Cartesian mask (H, W) f32, 1 where sampled, or a trajectory of P (k_y, k_x) pairs in
// cycles per field of view with its NUFFT options. x is one image (C, H, W); coils= is accepted and
// not read.
struct KspaceSampling {
  Tensor mask;
  std::vector<double> coords;
  NufftOptions nufft;
  bool cartesian() const { return mask.defined(); }
};
KspaceSampling kspace_sampling(const std::string& spec, const samplers::Signal& x, const SpecOptions& options = {});

// The spec text itself: `spec` unless it names a JSON or HDF5 file (or is inline JSON), in which case
// the spec held there, in the ':' form; `attribute` is "operator" or "noise". Sets base_file for HDF5.
std::string resolve_spec_text(const std::string& spec, const std::string& attribute, SpecOptions& options);

}  // namespace tweedie

#pragma once
// Exact priors in HDF5 files (io/FORMAT.md, "Exact prior files"): a Gaussian with a dense, diagonal,
// low-rank or stationary covariance, or a Gaussian mixture with dense covariances. They carry no noising
// process: the caller supplies one.
#include <cstdint>
#include <memory>
#include <string>

#include "samplers/denoiser.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/mixture_denoiser.h"

namespace tweedie {

inline constexpr const char* kPriorFormat = "tweedie-prior";
inline constexpr std::int64_t kPriorFormatVersion = 1;

// What a prior file holds: `prior` is "gaussian" (then `gaussian` is filled) or "gmm" (`mixture`).
struct PriorFileContents {
  std::string prior;
  samplers::GaussianPrior gaussian;
  samplers::MixturePrior mixture;
};

// Reads a prior file and checks its attributes, datasets and shapes (IoError naming the file and the
// dataset or attribute). The values are checked by the denoisers' constructors, which load_prior calls.
PriorFileContents read_prior(const std::string& path);

// A GaussianDenoiser or MixtureDenoiser with its tensors on `device`. Every problem with the file,
// values included (weights, symmetry, positive semi-definiteness, spectrum), is an IoError naming the
// file and the dataset.
std::unique_ptr<samplers::Denoiser> load_prior(const std::string& path, std::unique_ptr<samplers::Process> process,
                                               Device device = Device::cpu());

// Writers (atomic: the file appears complete or not at all). They check sizes, not values, so tests can
// write invalid priors. Values are stored as f32.
void save_gaussian_prior(const std::string& path, const samplers::GaussianPrior& prior);
void save_gmm_prior(const std::string& path, const samplers::MixturePrior& prior);

}  // namespace tweedie

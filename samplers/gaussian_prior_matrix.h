#pragma once
// A Gaussian prior's covariance as one dense D x D matrix in double, whatever structure the prior file
// uses, and a square root of it. For methods that treat small problems in closed form (the Laplace
// approximation and the elliptical slice sampler it preconditions, samplers/posterior/laplace.h); the
// denoisers never form S.
#include <cstdint>
#include <vector>

#include "samplers/gaussian_denoiser.h"

namespace tweedie::samplers {

// S, row-major. Stationary priors (C, H, W) are block diagonal over channels, each block circulant:
// S[a, b] = (1 / HW) sum_k p[k] cos(2 pi k . (a - b) / (H, W)), the F^H diag(p) F of the denoiser with F
// the unitary 2-D DFT.
std::vector<double> dense_covariance(const GaussianPrior& prior);

// R with R R^T = S, D x D row-major: R = U diag(sqrt(l)) from S's eigendecomposition (negative
// eigenvalues within the prior files' tolerance count as 0). Needs no inverse of S, which a smooth GP
// kernel on a fine grid makes numerically singular.
std::vector<double> covariance_root(const GaussianPrior& prior);

}  // namespace tweedie::samplers

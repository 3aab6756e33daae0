#pragma once
// Linear operators on real images and vectors: identity (denoising), masks (inpainting),
// downsampling (super-resolution), blur (deconvolution), dense matrices, and composition.
// Every factory checks its arguments against the item signal and throws naming the spec field.
// Tensors given to factories may live anywhere; the operator keeps copies on `device`.
#include <cstdint>
#include <memory>
#include <string>

#include "samplers/operators/operator.h"

namespace tweedie::samplers {

std::unique_ptr<Operator> make_identity(const Signal& x);

// y = m . x with y kept on the full grid (zeros where m = 0), observed() = (m != 0). The mask is
// f32 of the item shape, or (1, H, W) for an item (C, H, W) to share it across channels.
std::unique_ptr<Operator> make_mask(const Signal& x, const Tensor& mask, std::string description, Device device);
// Masks for make_mask, on the host. random_pixel_mask keeps each pixel with probability `keep`
// (per channel or one draw shared by all channels; Philox from `seed`); box_mask zeros the
// rectangle [top, top + height) x [left, left + width) of every channel.
Tensor random_pixel_mask(const Shape& item, double keep, bool per_channel, std::uint64_t seed);
Tensor box_mask(const Shape& item, std::int64_t top, std::int64_t left, std::int64_t height, std::int64_t width);

// Super-resolution of (C, H, W) by an integer factor: average pooling over factor x factor blocks,
// or bicubic resizing with antialiasing (the kernel widened by the factor, as MATLAB imresize and the
// DPS code do); both need H and W divisible by the factor.
enum class DownsampleKind { average, bicubic };
std::unique_ptr<Operator> make_downsample(const Signal& x, std::int64_t factor, DownsampleKind kind, Device device);

// 2-D blur of every channel of (C, H, W) by a kernel (kh, kw) (odd sizes, centred): circular
// convolution through the FFT, or convolution of the reflect-padded image (output (C, H, W)).
// Convolution proper, y[i,j] = sum k[a,b] x[i - a + kh/2, j - b + kw/2]: the kernel is the
// point-spread function (DPS's Blurkernel correlates instead; the two differ for asymmetric kernels).
enum class BlurBoundary { circular, reflect };
std::unique_ptr<Operator> make_blur(const Signal& x, const Tensor& kernel, BlurBoundary boundary, std::string description, Device device);
// Kernels on the host, normalised to sum 1: a Gaussian of `size` x `size` and standard deviation
// `sigma` pixels; a motion kernel from a random camera trajectory (intensity in [0, 1] is how much it
// wanders; Philox from `seed`).
Tensor gaussian_kernel(std::int64_t size, double sigma);
Tensor motion_kernel(std::int64_t size, double intensity, std::uint64_t seed);

// y = A vec(x) for A (M, D), D = numel of one item; y is (M).
std::unique_ptr<Operator> make_matrix(const Signal& x, const Tensor& a, std::string description, Device device);

// outer(inner(x)); inner's output signal must be outer's input signal.
std::unique_ptr<Operator> compose(std::shared_ptr<const Operator> outer, std::shared_ptr<const Operator> inner);

}  // namespace tweedie::samplers

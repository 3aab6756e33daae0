#!/usr/bin/env python3
"""Reference SSIM and PSNR values for tests/samplers/test_metrics.cpp, from scikit-image.

The two images are formulas (the test rebuilds them), so only the numbers below travel:
    x[c, i, j] = sin(0.3 i + 0.2 j + c)
    r[c, i, j] = x[c, i, j] + 0.1 cos(0.7 i j + c)
on 3 x 24 x 20, data range 2, Gaussian window sigma 1.5 without sample-covariance correction (the
settings of Wang et al. 2004 that tweedie implements).
"""
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

c, i, j = np.meshgrid(np.arange(3), np.arange(24), np.arange(20), indexing="ij")
x = np.sin(0.3 * i + 0.2 * j + c)
r = x + 0.1 * np.cos(0.7 * i * j + c)
s = structural_similarity(x, r, data_range=2.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                          use_sample_covariance=False)
p = peak_signal_noise_ratio(r, x, data_range=2.0)
print(f"ssim {s:.12f}\npsnr {p:.12f}")

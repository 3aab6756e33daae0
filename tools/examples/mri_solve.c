/* The demo's MRI problem through tweedie's C API: a 64x64 phantom, 4x accelerated single-coil Cartesian
 * k-space with Gaussian noise, solved by MMPS with the learned prior that ships with tweedie. Prints the
 * PSNR of the zero-filled image and of the posterior mean, and the network calls it took.
 *
 *   mri_solve PRIOR.h5 [SAMPLES [STEPS]]
 *
 * Build against the installed package: tools/examples/CMakeLists.txt, or
 *   cc mri_solve.c $(pkg-config --cflags --libs tweedie) -lm -o mri_solve */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <tweedie/tweedie.h>

#define SIDE 64
#define PIXELS (SIDE * SIDE)

/* Stops the program with the context's message when a call fails. */
static void check(tweedie_context* ctx, tweedie_status status, const char* what) {
  if (status == TWEEDIE_OK) return;
  fprintf(stderr, "mri_solve: %s: %s: %s\n", what, tweedie_status_name(status), tweedie_context_error(ctx));
  exit(1);
}

/* A head-like phantom in [-1, 1]: background -1, a bright skull ring, darker tissue with two spots. */
static void phantom(float* x) {
  for (int i = 0; i < SIDE; ++i) {
    for (int j = 0; j < SIDE; ++j) {
      const double u = (j + 0.5) / SIDE * 2 - 1, v = (i + 0.5) / SIDE * 2 - 1;
      double value = -1;
      const double outer = (u * u) / 0.55 + (v * v) / 0.75, inner = (u * u) / 0.45 + (v * v) / 0.65;
      if (outer < 1) value = 0.8;
      if (inner < 1) value = -0.1;
      if ((u - 0.25) * (u - 0.25) + (v + 0.2) * (v + 0.2) < 0.02) value = 0.5;
      if ((u + 0.3) * (u + 0.3) + (v - 0.3) * (v - 0.3) < 0.01) value = 0.3;
      x[i * SIDE + j] = (float)value;
    }
  }
}

static double psnr(const float* estimate, const float* truth) {
  double mse = 0;
  for (int i = 0; i < PIXELS; ++i) mse += (estimate[i] - truth[i]) * (double)(estimate[i] - truth[i]);
  return 10 * log10(4.0 / (mse / PIXELS)); /* images in [-1, 1]: peak-to-peak 2 */
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PRIOR.h5 [SAMPLES [STEPS]]\n", argv[0]);
    return 2;
  }
  const int samples = argc > 2 ? atoi(argv[2]) : 4, steps = argc > 3 ? atoi(argv[3]) : 50;
  printf("tweedie %s (C API %d), CUDA backend: %s\n", tweedie_version(), TWEEDIE_C_API_VERSION, tweedie_has_cuda() ? "yes" : "no");

  tweedie_context* ctx = NULL;
  if (tweedie_context_create("cpu", 0, &ctx) != TWEEDIE_OK) {
    fprintf(stderr, "mri_solve: %s\n", tweedie_context_error(NULL));
    return 1;
  }
  tweedie_prior* prior = NULL;
  check(ctx, tweedie_prior_open(ctx, argv[1], NULL, &prior), "opening the prior");

  const int64_t x_dims[3] = {1, SIDE, SIDE};
  tweedie_problem* problem = NULL;
  check(ctx, tweedie_problem_from_specs(ctx, "mri:R=4:seed=1", "gaussian:sigma=0.02", x_dims, 3, &problem), "building the problem");

  /* Simulate the measurement: complex k-space, 2 floats per value. */
  static float x[PIXELS], zero_filled[PIXELS], mean[PIXELS], spread[PIXELS];
  static float y[2 * PIXELS];
  phantom(x);
  check(ctx, tweedie_problem_simulate(ctx, problem, x, 1, PIXELS, 7, y, 2 * PIXELS), "simulating k-space");
  check(ctx, tweedie_problem_set_y(ctx, problem, y, 1, 2 * PIXELS), "setting y");
  check(ctx, tweedie_problem_adjoint(ctx, problem, y, 1, 2 * PIXELS, zero_filled, PIXELS), "zero-filling");

  tweedie_solve_options options;
  tweedie_solve_options_init(&options);
  options.method = "mmps";
  options.sampler = "ddpm"; /* the demo's sampler */
  options.samples = samples;
  options.steps = steps;
  options.seed = 1;
  /* Tweedie's covariance only below noise level 1: on this phantom, which the prior never saw, one
   * draw in four ran off with it at every level (tweedie em has the same default, for that reason). */
  options.tweedie_max_noise = 1;
  check(ctx, tweedie_solve(ctx, prior, problem, &options, NULL, 0, mean, PIXELS, spread, PIXELS), "solving");

  double average_std = 0;
  for (int i = 0; i < PIXELS; ++i) average_std += spread[i] / PIXELS;
  int64_t forward = 0, jvp = 0, vjp = 0;
  check(ctx, tweedie_prior_counters(ctx, prior, &forward, &jvp, &vjp), "reading counters");
  printf("zero-filled PSNR %.2f dB\n", psnr(zero_filled, x));
  printf("MMPS posterior mean of %d samples, %d steps: PSNR %.2f dB, mean posterior std %.4f\n", samples, steps, psnr(mean, x),
         average_std);
  printf("network calls: %lld forward, %lld JVP, %lld VJP\n", (long long)forward, (long long)jvp, (long long)vjp);

  tweedie_problem_destroy(problem);
  tweedie_prior_destroy(prior);
  tweedie_context_destroy(ctx);
  return 0;
}

/* tweedie's C API: posterior sampling with diffusion priors from C, Fortran (iso_c_binding) or any
 * language with a C foreign-function interface.
 *
 * Installed as <tweedie/tweedie.h>; link with tweedie::tweedie (CMake) or `pkg-config --libs tweedie`.
 * The C++ API (the headers under tweedie/runtime, samplers, io, ...) is the primary one; this layer is
 * thin over it and stable: functions are only added, and structs of options carry their own size.
 *
 * Conventions
 * - Every call returns a tweedie_status; TWEEDIE_OK is 0. No C++ exception crosses this interface.
 * - Every object is made through a tweedie_context (a device, a thread count, and the message of the
 *   last error of the calls made through it: tweedie_context_error). Objects must be used with the
 *   context they were made with, and a context with one thread at a time.
 * - Arrays are row-major (C order) f32, items first: M observations of shape (C, H, W) are M*C*H*W
 *   floats. Complex data (k-space) is interleaved (real, imaginary) pairs of f32, as C99's
 *   float complex and Fortran's complex(c_float_complex). Every buffer comes with its length in
 *   elements of f32 (a complex value counts 2), and a wrong length is an error, not an overrun.
 * - Buffers are host memory, unless tweedie_context_set_buffers(ctx, TWEEDIE_BUFFERS_DEVICE) says that
 *   they are memory of the context's GPU (cudaMalloc'd; the calls synchronise before returning).
 * - Results are written only when the call succeeds; a failed call leaves the output buffers as
 *   they were.
 */
#ifndef TWEEDIE_TWEEDIE_H
#define TWEEDIE_TWEEDIE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header's interface: 1 for the first. tweedie_version() is the library's. */
#define TWEEDIE_C_API_VERSION 1

typedef enum tweedie_status {
  TWEEDIE_OK = 0,
  TWEEDIE_ERROR_ARGUMENT = 1, /* a bad option, spec, method, or a null pointer where one is needed */
  TWEEDIE_ERROR_SHAPE = 2,    /* shapes or buffer lengths that do not fit */
  TWEEDIE_ERROR_FILE = 3,     /* a file that cannot be read or written, or holds the wrong thing */
  TWEEDIE_ERROR_DEVICE = 4,   /* a device that does not exist, or a CUDA failure */
  TWEEDIE_ERROR_NUMERIC = 5,  /* NaN or infinity in a computation */
  TWEEDIE_ERROR_CALLBACK = 6, /* a caller-supplied operator callback returned non-zero */
  TWEEDIE_ERROR_NULL_HANDLE = 7,
  TWEEDIE_ERROR_INTERNAL = 8  /* anything else; the message says what */
} tweedie_status;

/* "0.1.0": the library's version. */
const char* tweedie_version(void);
/* 1 when this library was built with the CUDA backend (a GPU may still be absent at run time). */
int tweedie_has_cuda(void);
/* "success", "bad argument", ... for a status. */
const char* tweedie_status_name(tweedie_status status);

/* ---- contexts ------------------------------------------------------------------------------------ */

typedef struct tweedie_context tweedie_context;

/* device: "cpu", "cuda" or "cuda:N" (NULL: "cpu"); threads: host threads, 0 for all cores. On failure
 * *out is NULL and tweedie_context_error(NULL) gives the reason (per calling thread). */
tweedie_status tweedie_context_create(const char* device, int threads, tweedie_context** out);
void tweedie_context_destroy(tweedie_context* ctx); /* NULL is ignored */
/* The message of the last failed call through ctx ("" when none); valid until the next call through
 * it. NULL: the last failed tweedie_context_create of this thread. */
const char* tweedie_context_error(const tweedie_context* ctx);
tweedie_status tweedie_context_set_threads(tweedie_context* ctx, int threads);

typedef enum tweedie_buffers { TWEEDIE_BUFFERS_HOST = 0, TWEEDIE_BUFFERS_DEVICE = 1 } tweedie_buffers;
/* Where the caller's arrays live for the calls through ctx; DEVICE needs a context on a GPU. */
tweedie_status tweedie_context_set_buffers(tweedie_context* ctx, tweedie_buffers where);

/* ---- priors ---------------------------------------------------------------------------------------- */

typedef struct tweedie_prior tweedie_prior;

/* A model file (tweedie convert / train) or an exact prior file (Gaussian, mixture). process: the
 * noising process to run it under ("vp", "ve", ...; NULL for the model's own; exact priors need one). */
tweedie_status tweedie_prior_open(tweedie_context* ctx, const char* path, const char* process, tweedie_prior** out);
void tweedie_prior_destroy(tweedie_prior* prior);
/* The shape of one item x, e.g. (1, 64, 64): *rank dims into dims[0..3]. */
tweedie_status tweedie_prior_item_shape(tweedie_context* ctx, const tweedie_prior* prior, int64_t dims[4], int* rank);
/* Network calls so far: forward (denoiser evaluations), JVP and VJP products. */
tweedie_status tweedie_prior_counters(tweedie_context* ctx, const tweedie_prior* prior, int64_t* forward, int64_t* jvp, int64_t* vjp);

/* ---- problems: observations y with their operator A and noise model ---------------------------------- */

typedef struct tweedie_problem tweedie_problem;

/* An observation file written by `tweedie simulate` (y with its operator and noise specs). */
tweedie_status tweedie_problem_open(tweedie_context* ctx, const char* path, tweedie_problem** out);
/* An operator SPEC ("mri:R=4:seed=1", "inpaint:p=0.25", "sr:4", ...: `tweedie simulate --help`) on
 * unknowns of shape x_dims (one item, rank x_rank, real), and a noise SPEC ("gaussian:sigma=0.01",
 * "poisson:scale=10", ...). The problem has no observations until tweedie_problem_set_y. */
tweedie_status tweedie_problem_from_specs(tweedie_context* ctx, const char* operator_spec, const char* noise_spec,
                                          const int64_t* x_dims, int x_rank, tweedie_problem** out);

/* A forward operator of the caller's: a PDE solve, a projector. Every callback gets `user` and a batch
 * of `batch` items, contiguous, in buffers on the context's device (host memory on "cpu", device memory
 * of the context's GPU otherwise); it returns 0 on success, anything else fails the calling method with
 * TWEEDIE_ERROR_CALLBACK. Linear operators give apply (y = A x) and adjoint (x = A^T y: for complex y
 * the real part of A^H y). Nonlinear ones (adjoint NULL) give apply, jvp (dy = J(x) dx) and vjp
 * (dx = J(x)^T dy). The callbacks may be called from any of the calling thread's nested work, one
 * at a time. */
typedef int (*tweedie_map_fn)(void* user, const float* in, float* out, int64_t batch);
typedef int (*tweedie_derivative_fn)(void* user, const float* x, const float* tangent, float* out, int64_t batch);
typedef struct tweedie_operator_callbacks {
  int64_t x_dims[4]; /* one unknown item, real f32 */
  int x_rank;
  int64_t y_dims[4]; /* one observation item */
  int y_rank;
  int y_complex;     /* 1: y is complex, interleaved (y_dims count complex values) */
  tweedie_map_fn apply;
  tweedie_map_fn adjoint;     /* NULL for a nonlinear operator */
  tweedie_derivative_fn jvp;  /* nonlinear operators only */
  tweedie_derivative_fn vjp;  /* nonlinear operators only */
  void* user;
  const char* name;           /* in messages and outputs; NULL: "callback" */
} tweedie_operator_callbacks;
tweedie_status tweedie_problem_from_callbacks(tweedie_context* ctx, const tweedie_operator_callbacks* op, const char* noise_spec,
                                              tweedie_problem** out);
void tweedie_problem_destroy(tweedie_problem* problem);

/* The observations: m items of the operator's output, m * (y item length) f32 values (complex: twice). */
tweedie_status tweedie_problem_set_y(tweedie_context* ctx, tweedie_problem* problem, const float* y, int64_t m, int64_t length);
/* Shapes of one unknown x and one observation y (rank and dims[0..3]), whether y is complex, and the
 * number of observations (0 before set_y). Any pointer may be NULL. */
tweedie_status tweedie_problem_shapes(tweedie_context* ctx, const tweedie_problem* problem, int64_t x_dims[4], int* x_rank,
                                      int64_t y_dims[4], int* y_rank, int* y_complex, int64_t* observations);
/* y = A(x) for n items x (n * x length values) into y (n * y length). */
tweedie_status tweedie_problem_apply(tweedie_context* ctx, const tweedie_problem* problem, const float* x, int64_t n, int64_t x_length,
                                     float* y, int64_t y_length);
/* x = A^T y for n items y (linear operators; for MRI the zero-filled image). */
tweedie_status tweedie_problem_adjoint(tweedie_context* ctx, const tweedie_problem* problem, const float* y, int64_t n, int64_t y_length,
                                       float* x, int64_t x_length);
/* Observations y = noise(A(x)) of n known signals, noise keyed by seed (as `tweedie simulate`). */
tweedie_status tweedie_problem_simulate(tweedie_context* ctx, const tweedie_problem* problem, const float* x, int64_t n,
                                        int64_t x_length, uint64_t seed, float* y, int64_t y_length);

/* ---- solving and sampling ----------------------------------------------------------------------------- */

/* The options of `tweedie solve` (its --help says more). Fill with tweedie_solve_options_init, then set
 * what differs; strings are copied by the call that reads them. */
typedef struct tweedie_solve_options {
  int64_t struct_size;      /* sizeof(tweedie_solve_options); set by init */
  const char* method;       /* "mmps" (default), "dps", "pigdm", "tmpd", "ddrm", "ddnm", "diffpir", "daps", "tds",
                               "evidence", "map-tikhonov", "map-tv", "pnp", "red"; the options of pigdm .. tds
                               not below are `tweedie solve`'s defaults */
  int64_t samples;          /* samples per observation (the sampling methods); 1 */
  int64_t batch;            /* items per batch, 0: all at once */
  uint64_t seed;            /* a sample's noise depends only on the seed and its index; 0 */
  const char* sampler;      /* "ddim" (default), "ddpm", "em", "ode-euler", "ode-heun", "pc", "edm-heun", "dpm++2m", "eab" */
  int steps;                /* sampler steps; 50 */
  double eta;               /* ddim: 0 deterministic .. 1 ancestral; 0 */
  int cg_iterations;        /* mmps: solver iterations per step; 1 */
  double tolerance;         /* mmps: relative residual to stop at; 0 (always cg_iterations) */
  const char* covariance;   /* mmps: "tweedie" (default), "sigma_t", "gaussian" */
  double tweedie_max_noise; /* mmps: Tweedie's covariance up to this sigma/alpha; infinity (everywhere) */
  double zeta;              /* dps: step size; 1 */
  double lambda;            /* map-*, red: regularisation weight */
  int iterations;           /* map-*, pnp, red: iterations; 200 */
  double noise_level;       /* pnp, red: the denoiser's noise level */
  double rho;               /* pnp: ADMM penalty */
} tweedie_solve_options;
void tweedie_solve_options_init(tweedie_solve_options* options);

/* Posterior samples of every observation of `problem` with `prior` (NULL for map-tikhonov and map-tv):
 * samples gets M * K items (observation-major: observation i's k-th sample is item i * K + k),
 * mean and std M items each (the mean and standard deviation over each observation's K samples; for
 * the baselines, K = 1 and std is zero). Lengths are in f32 values; samples, mean and std may each be
 * NULL (length ignored). Methods that need an operator's adjoint or derivatives call the callbacks of
 * a callback problem. */
tweedie_status tweedie_solve(tweedie_context* ctx, const tweedie_prior* prior, const tweedie_problem* problem,
                             const tweedie_solve_options* options, float* samples, int64_t samples_length, float* mean,
                             int64_t mean_length, float* std, int64_t std_length);

/* count draws from the prior alone: items first_index .. first_index + count - 1 of the seed's
 * sequence (so two calls of count 4 at 0 and 4 give the one call of 8), into out (count * item length). */
tweedie_status tweedie_sample(tweedie_context* ctx, const tweedie_prior* prior, const tweedie_solve_options* options, int64_t count,
                              int64_t first_index, float* out, int64_t out_length);

#ifdef __cplusplus
}
#endif

#endif /* TWEEDIE_TWEEDIE_H */

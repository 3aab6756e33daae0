/* The C API from C (compiled as C99, linked to the shared library): every error path returns its status
 * and a message that names the culprit, outputs stay untouched on failure, and a forward operator written
 * here as callbacks gives the same posterior as the built-in operator it copies, for every method.
 *
 *   test_capi EXACT_PRIOR.h5 (a (1,64,64) Gaussian prior file: tools/demo/phantom_prior.h5) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/capi/tweedie.h"

static int failures = 0, checks = 0;

#define CHECK(cond, ...)                                          \
  do {                                                            \
    ++checks;                                                     \
    if (!(cond)) {                                                \
      ++failures;                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                               \
      fprintf(stderr, "\n");                                      \
    }                                                             \
  } while (0)

/* A call that must fail with `status` and a message containing `needle`. */
#define REFUSED(ctx, call, status, needle)                                                                     \
  do {                                                                                                         \
    tweedie_status s_ = (call);                                                                                \
    const char* m_ = tweedie_context_error(ctx);                                                               \
    CHECK(s_ == (status), "%s returned %s (%d), expected %s: '%s'", #call, tweedie_status_name(s_), (int)s_, \
          tweedie_status_name(status), m_ ? m_ : "(null)");                                                    \
    CHECK(m_ && strstr(m_, needle), "%s: message '%s' does not name '%s'", #call, m_ ? m_ : "(null)", needle); \
  } while (0)

#define OK(ctx, call)                                                                                               \
  do {                                                                                                              \
    tweedie_status s_ = (call);                                                                                     \
    CHECK(s_ == TWEEDIE_OK, "%s returned %s: %s", #call, tweedie_status_name(s_), tweedie_context_error(ctx));    \
  } while (0)

enum { SIDE = 64, PIXELS = SIDE * SIDE, HALF = SIDE / 2, LOW = HALF * HALF };

/* ---- the callback operator: 2x2 average pooling, as the built-in "sr:2:avg" ------------------------- */

typedef struct {
  int calls;     /* every callback counts itself */
  int fail_at;   /* the call that returns an error (0: none) */
} pool_state;

static int pool_apply(void* user, const float* x, float* y, int64_t batch) {
  pool_state* s = (pool_state*)user;
  if (++s->calls == s->fail_at) return 42;
  for (int64_t n = 0; n < batch; ++n)
    for (int i = 0; i < HALF; ++i)
      for (int j = 0; j < HALF; ++j) {
        const float* p = x + n * PIXELS + 2 * i * SIDE + 2 * j;
        y[n * LOW + i * HALF + j] = 0.25f * (p[0] + p[1] + p[SIDE] + p[SIDE + 1]);
      }
  return 0;
}

static int pool_adjoint(void* user, const float* y, float* x, int64_t batch) {
  pool_state* s = (pool_state*)user;
  if (++s->calls == s->fail_at) return 42;
  for (int64_t n = 0; n < batch; ++n)
    for (int i = 0; i < SIDE; ++i)
      for (int j = 0; j < SIDE; ++j) x[n * PIXELS + i * SIDE + j] = 0.25f * y[n * LOW + (i / 2) * HALF + j / 2];
  return 0;
}

/* The same map declared nonlinear: its derivatives are the map and its adjoint. */
static int pool_jvp(void* user, const float* x, const float* dx, float* dy, int64_t batch) {
  (void)x;
  return pool_apply(user, dx, dy, batch);
}
static int pool_vjp(void* user, const float* x, const float* dy, float* dx, int64_t batch) {
  (void)x;
  return pool_adjoint(user, dy, dx, batch);
}

static tweedie_operator_callbacks pool_callbacks(pool_state* state, int linear) {
  tweedie_operator_callbacks c;
  memset(&c, 0, sizeof c);
  c.x_rank = 3, c.x_dims[0] = 1, c.x_dims[1] = SIDE, c.x_dims[2] = SIDE;
  c.y_rank = 3, c.y_dims[0] = 1, c.y_dims[1] = HALF, c.y_dims[2] = HALF;
  c.apply = pool_apply;
  c.adjoint = linear ? pool_adjoint : NULL;
  c.jvp = linear ? NULL : pool_jvp;
  c.vjp = linear ? NULL : pool_vjp;
  c.user = state;
  c.name = linear ? "avgpool" : "avgpool-as-nonlinear";
  return c;
}

static void smooth_images(float* x, int count) {
  for (int n = 0; n < count; ++n)
    for (int i = 0; i < SIDE; ++i)
      for (int j = 0; j < SIDE; ++j)
        x[n * PIXELS + i * SIDE + j] = (float)(0.6 * sin(0.11 * (i + 3 * n)) * cos(0.07 * j) - 0.1 * n);
}

static double mean_abs_difference(const float* a, const float* b, int64_t n) {
  double d = 0;
  for (int64_t i = 0; i < n; ++i) d += fabs((double)a[i] - b[i]);
  return d / n;
}

static double max_difference(const float* a, const float* b, int64_t n) {
  double d = 0;
  for (int64_t i = 0; i < n; ++i) d = fmax(d, fabs((double)a[i] - b[i]));
  return d;
}

/* ---- tests -------------------------------------------------------------------------------------------- */

static void test_library_facts(void) {
  CHECK(strcmp(tweedie_version(), TWEEDIE_VERSION) == 0, "version '%s' vs '%s'", tweedie_version(), TWEEDIE_VERSION);
  CHECK(tweedie_has_cuda() == TWEEDIE_HAS_CUDA, "has_cuda %d", tweedie_has_cuda());
  CHECK(strcmp(tweedie_status_name(TWEEDIE_OK), "success") == 0, "%s", tweedie_status_name(TWEEDIE_OK));
  CHECK(strcmp(tweedie_status_name(TWEEDIE_ERROR_CALLBACK), "operator callback failed") == 0, "%s",
        tweedie_status_name(TWEEDIE_ERROR_CALLBACK));
}

static void test_contexts(void) {
  tweedie_context* ctx = (tweedie_context*)0x1;
  CHECK(tweedie_context_create("tpu:0", 0, &ctx) == TWEEDIE_ERROR_ARGUMENT && ctx == NULL, "bad device");
  CHECK(strstr(tweedie_context_error(NULL), "tpu") != NULL, "'%s' does not name the device", tweedie_context_error(NULL));
  if (!tweedie_has_cuda()) {
    CHECK(tweedie_context_create("cuda:0", 0, &ctx) == TWEEDIE_ERROR_DEVICE && ctx == NULL, "cuda without the backend");
    CHECK(strstr(tweedie_context_error(NULL), "cuda") != NULL, "'%s'", tweedie_context_error(NULL));
  }
  CHECK(tweedie_context_create("cpu", -1, &ctx) == TWEEDIE_ERROR_ARGUMENT, "negative threads");
  CHECK(tweedie_context_create("cpu", 0, NULL) == TWEEDIE_ERROR_ARGUMENT, "NULL out");

  /* Every entry point refuses a NULL context without crashing. */
  int64_t dims[4];
  int rank;
  tweedie_solve_options o;
  tweedie_solve_options_init(&o);
  float buffer[4];
  CHECK(tweedie_context_set_threads(NULL, 1) == TWEEDIE_ERROR_NULL_HANDLE, "set_threads");
  CHECK(tweedie_context_set_buffers(NULL, TWEEDIE_BUFFERS_HOST) == TWEEDIE_ERROR_NULL_HANDLE, "set_buffers");
  CHECK(tweedie_prior_open(NULL, "x.h5", NULL, NULL) == TWEEDIE_ERROR_NULL_HANDLE, "prior_open");
  CHECK(tweedie_prior_item_shape(NULL, NULL, dims, &rank) == TWEEDIE_ERROR_NULL_HANDLE, "item_shape");
  CHECK(tweedie_prior_counters(NULL, NULL, NULL, NULL, NULL) == TWEEDIE_ERROR_NULL_HANDLE, "counters");
  CHECK(tweedie_problem_open(NULL, "y.h5", NULL) == TWEEDIE_ERROR_NULL_HANDLE, "problem_open");
  CHECK(tweedie_problem_from_specs(NULL, "identity", "gaussian:sigma=1", dims, 1, NULL) == TWEEDIE_ERROR_NULL_HANDLE, "from_specs");
  CHECK(tweedie_problem_from_callbacks(NULL, NULL, "gaussian:sigma=1", NULL) == TWEEDIE_ERROR_NULL_HANDLE, "from_callbacks");
  CHECK(tweedie_problem_set_y(NULL, NULL, buffer, 1, 4) == TWEEDIE_ERROR_NULL_HANDLE, "set_y");
  CHECK(tweedie_problem_shapes(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) == TWEEDIE_ERROR_NULL_HANDLE, "shapes");
  CHECK(tweedie_problem_apply(NULL, NULL, buffer, 1, 4, buffer, 4) == TWEEDIE_ERROR_NULL_HANDLE, "apply");
  CHECK(tweedie_problem_adjoint(NULL, NULL, buffer, 1, 4, buffer, 4) == TWEEDIE_ERROR_NULL_HANDLE, "adjoint");
  CHECK(tweedie_problem_simulate(NULL, NULL, buffer, 1, 4, 0, buffer, 4) == TWEEDIE_ERROR_NULL_HANDLE, "simulate");
  CHECK(tweedie_solve(NULL, NULL, NULL, &o, NULL, 0, NULL, 0, NULL, 0) == TWEEDIE_ERROR_NULL_HANDLE, "solve");
  CHECK(tweedie_sample(NULL, NULL, &o, 1, 0, buffer, 4) == TWEEDIE_ERROR_NULL_HANDLE, "sample");
  tweedie_context_destroy(NULL);
  tweedie_prior_destroy(NULL);
  tweedie_problem_destroy(NULL);

  OK(NULL, tweedie_context_create(NULL, 1, &ctx));
  REFUSED(ctx, tweedie_context_set_threads(ctx, -2), TWEEDIE_ERROR_ARGUMENT, "threads is -2");
  REFUSED(ctx, tweedie_context_set_buffers(ctx, TWEEDIE_BUFFERS_DEVICE), TWEEDIE_ERROR_ARGUMENT, "cpu");
  OK(ctx, tweedie_context_set_threads(ctx, 2));
  CHECK(strcmp(tweedie_context_error(ctx), "") == 0, "a success clears the message: '%s'", tweedie_context_error(ctx));
  tweedie_context_destroy(ctx);
}

static void test_bad_files_and_specs(tweedie_context* ctx, const char* program, const char* prior_path) {
  tweedie_prior* prior = (tweedie_prior*)0x1;
  REFUSED(ctx, tweedie_prior_open(ctx, "/nonexistent/model.h5", NULL, &prior), TWEEDIE_ERROR_FILE, "/nonexistent/model.h5");
  CHECK(prior == NULL, "a failed open leaves *out NULL");
  REFUSED(ctx, tweedie_prior_open(ctx, NULL, NULL, &prior), TWEEDIE_ERROR_ARGUMENT, "path is NULL");
  REFUSED(ctx, tweedie_prior_open(ctx, prior_path, "vp:banana", &prior), TWEEDIE_ERROR_ARGUMENT, "banana");
  REFUSED(ctx, tweedie_prior_open(ctx, program, NULL, &prior), TWEEDIE_ERROR_FILE, "not an HDF5 file");  /* this very program */
  tweedie_problem* problem = NULL;
  REFUSED(ctx, tweedie_problem_open(ctx, "/nonexistent/y.h5", &problem), TWEEDIE_ERROR_FILE, "/nonexistent/y.h5");
  REFUSED(ctx, tweedie_problem_open(ctx, prior_path, &problem), TWEEDIE_ERROR_FILE, prior_path);
  REFUSED(ctx, tweedie_problem_open(ctx, program, &problem), TWEEDIE_ERROR_FILE, program);

  const int64_t x_dims[3] = {1, SIDE, SIDE};
  REFUSED(ctx, tweedie_problem_from_specs(ctx, "blurr:gauss:5:1", "gaussian:sigma=0.1", x_dims, 3, &problem), TWEEDIE_ERROR_ARGUMENT,
          "operator_spec");
  REFUSED(ctx, tweedie_problem_from_specs(ctx, "sr:2:avg", "gaussian:sigma=-1", x_dims, 3, &problem), TWEEDIE_ERROR_ARGUMENT,
          "noise_spec");
  REFUSED(ctx, tweedie_problem_from_specs(ctx, "sr:2:avg", "none", x_dims, 3, &problem), TWEEDIE_ERROR_ARGUMENT, "none");
  REFUSED(ctx, tweedie_problem_from_specs(ctx, "sr:2:avg", NULL, x_dims, 3, &problem), TWEEDIE_ERROR_ARGUMENT, "noise_spec is NULL");
  const int64_t bad_dims[3] = {1, 0, SIDE};
  REFUSED(ctx, tweedie_problem_from_specs(ctx, "sr:2:avg", "gaussian:sigma=0.1", bad_dims, 3, &problem), TWEEDIE_ERROR_SHAPE,
          "x_dims[1] is 0");
  REFUSED(ctx, tweedie_problem_from_specs(ctx, "sr:2:avg", "gaussian:sigma=0.1", x_dims, 7, &problem), TWEEDIE_ERROR_ARGUMENT, "rank 7");

  pool_state state = {0, 0};
  tweedie_operator_callbacks c = pool_callbacks(&state, 1);
  c.adjoint = NULL;  /* neither linear nor nonlinear */
  REFUSED(ctx, tweedie_problem_from_callbacks(ctx, &c, "gaussian:sigma=0.1", &problem), TWEEDIE_ERROR_ARGUMENT, "needs adjoint");
  c = pool_callbacks(&state, 1);
  c.apply = NULL;
  REFUSED(ctx, tweedie_problem_from_callbacks(ctx, &c, "gaussian:sigma=0.1", &problem), TWEEDIE_ERROR_ARGUMENT, "apply is NULL");
  c = pool_callbacks(&state, 1);
  c.y_rank = 0;
  REFUSED(ctx, tweedie_problem_from_callbacks(ctx, &c, "gaussian:sigma=0.1", &problem), TWEEDIE_ERROR_ARGUMENT, "y_rank is 0");
  REFUSED(ctx, tweedie_problem_from_callbacks(ctx, NULL, "gaussian:sigma=0.1", &problem), TWEEDIE_ERROR_ARGUMENT, "callbacks is NULL");
  CHECK(problem == NULL, "no problem was made");
}

static void test_buffers_and_options(tweedie_context* ctx, tweedie_prior* prior) {
  const int64_t x_dims[3] = {1, SIDE, SIDE};
  tweedie_problem* problem = NULL;
  OK(ctx, tweedie_problem_from_specs(ctx, "sr:2:avg", "gaussian:sigma=0.05", x_dims, 3, &problem));
  int64_t xd[4], yd[4], m = -1;
  int xr = 0, yr = 0, complex = -1;
  OK(ctx, tweedie_problem_shapes(ctx, problem, xd, &xr, yd, &yr, &complex, &m));
  CHECK(xr == 3 && xd[1] == SIDE && yr == 3 && yd[1] == HALF && yd[2] == HALF && complex == 0 && m == 0, "shapes %d %d %d %lld", xr, yr,
        complex, (long long)m);

  static float x[2 * PIXELS], y[2 * LOW], sentinel[2 * PIXELS];
  smooth_images(x, 2);
  REFUSED(ctx, tweedie_problem_apply(ctx, problem, x, 2, PIXELS, y, 2 * LOW), TWEEDIE_ERROR_SHAPE, "x has 4096 floats");
  REFUSED(ctx, tweedie_problem_apply(ctx, problem, x, 2, 2 * PIXELS, y, 2 * LOW - 1), TWEEDIE_ERROR_SHAPE, "y has 2047 floats");
  REFUSED(ctx, tweedie_problem_apply(ctx, problem, NULL, 2, 2 * PIXELS, y, 2 * LOW), TWEEDIE_ERROR_ARGUMENT, "x is NULL");
  REFUSED(ctx, tweedie_problem_apply(ctx, problem, x, 0, 0, y, 0), TWEEDIE_ERROR_ARGUMENT, "n is 0");
  REFUSED(ctx, tweedie_problem_set_y(ctx, problem, y, 2, 2 * LOW + 3), TWEEDIE_ERROR_SHAPE, "y has 2051 floats");

  tweedie_solve_options o;
  tweedie_solve_options_init(&o);
  o.steps = 5;
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &o, NULL, 0, NULL, 0, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "no observations");

  OK(ctx, tweedie_problem_simulate(ctx, problem, x, 2, 2 * PIXELS, 3, y, 2 * LOW));
  OK(ctx, tweedie_problem_set_y(ctx, problem, y, 2, 2 * LOW));
  OK(ctx, tweedie_problem_shapes(ctx, problem, NULL, NULL, NULL, NULL, NULL, &m));
  CHECK(m == 2, "observations %lld", (long long)m);
  static float nan_y[2 * LOW];
  memcpy(nan_y, y, sizeof y);
  nan_y[17] = NAN;
  REFUSED(ctx, tweedie_problem_set_y(ctx, problem, nan_y, 2, 2 * LOW), TWEEDIE_ERROR_ARGUMENT, "y");

  for (int i = 0; i < 2 * PIXELS; ++i) sentinel[i] = 12345.0f;
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &o, sentinel, 2 * PIXELS + 1, NULL, 0, NULL, 0), TWEEDIE_ERROR_SHAPE,
          "samples has 8193 floats");
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &o, NULL, 0, sentinel, PIXELS, NULL, 0), TWEEDIE_ERROR_SHAPE, "mean has 4096 floats");
  REFUSED(ctx, tweedie_solve(ctx, NULL, problem, &o, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "needs a prior");
  REFUSED(ctx, tweedie_solve(ctx, prior, NULL, &o, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "problem is NULL");
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, NULL, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "options is NULL");
  tweedie_solve_options bad = o;
  bad.struct_size = 8;
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &bad, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "struct_size is 8");
  bad = o, bad.method = "magic";
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &bad, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "mmps, dps");
  bad = o, bad.method = "rmp";
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &bad, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "rmp");
  bad = o, bad.samples = 0;
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &bad, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "samples is 0");
  bad = o, bad.method = "map-tv", bad.samples = 2;
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &bad, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "one estimate");
  bad = o, bad.sampler = "leapfrog";
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &bad, NULL, 0, sentinel, 2 * PIXELS, NULL, 0), TWEEDIE_ERROR_ARGUMENT, "leapfrog");
  REFUSED(ctx, tweedie_sample(ctx, prior, &o, 2, 0, sentinel, PIXELS), TWEEDIE_ERROR_SHAPE, "out has 4096 floats");
  REFUSED(ctx, tweedie_sample(ctx, prior, &o, 0, 0, sentinel, 0), TWEEDIE_ERROR_ARGUMENT, "count is 0");
  REFUSED(ctx, tweedie_sample(ctx, NULL, &o, 1, 0, sentinel, PIXELS), TWEEDIE_ERROR_ARGUMENT, "prior is NULL");
  int untouched = 1;
  for (int i = 0; i < 2 * PIXELS; ++i) untouched &= sentinel[i] == 12345.0f;
  CHECK(untouched, "a failed call wrote into the caller's buffer");
  tweedie_problem_destroy(problem);
}

/* Draws in two calls are the draws of one call: items are keyed by their index. */
static void test_sample_split(tweedie_context* ctx, tweedie_prior* prior) {
  tweedie_solve_options o;
  tweedie_solve_options_init(&o);
  o.steps = 8;
  o.sampler = "ddpm";
  o.seed = 9;
  static float all[4 * PIXELS], parts[4 * PIXELS];
  OK(ctx, tweedie_sample(ctx, prior, &o, 4, 0, all, 4 * PIXELS));
  OK(ctx, tweedie_sample(ctx, prior, &o, 1, 0, parts, PIXELS));
  OK(ctx, tweedie_sample(ctx, prior, &o, 3, 1, parts + PIXELS, 3 * PIXELS));
  CHECK(memcmp(all, parts, sizeof all) == 0, "split draws differ by %g", max_difference(all, parts, 4 * PIXELS));
  double spread = 0;
  for (int i = 0; i < PIXELS; ++i) spread += fabs((double)all[i] - all[PIXELS + i]);
  CHECK(spread / PIXELS > 0.05, "two draws are nearly equal (%g): not random", spread / PIXELS);
}

/* Runs `method` on the built-in operator and on the callback one with the same y; returns the largest
 * difference of the posterior means, or -1 when a call failed. */
static double compare_method(tweedie_context* ctx, tweedie_prior* prior, const char* method, const char* noise, int linear) {
  const int64_t x_dims[3] = {1, SIDE, SIDE};
  tweedie_problem *builtin = NULL, *callback = NULL;
  pool_state state = {0, 0};
  tweedie_operator_callbacks c = pool_callbacks(&state, linear);
  OK(ctx, tweedie_problem_from_specs(ctx, "sr:2:avg", noise, x_dims, 3, &builtin));
  OK(ctx, tweedie_problem_from_callbacks(ctx, &c, noise, &callback));
  if (!builtin || !callback) return -1;
  static float x[2 * PIXELS], y[2 * LOW], y_callback[2 * LOW], a[2 * PIXELS], b[2 * PIXELS];
  smooth_images(x, 2);
  OK(ctx, tweedie_problem_simulate(ctx, builtin, x, 2, 2 * PIXELS, 5, y, 2 * LOW));
  OK(ctx, tweedie_problem_simulate(ctx, callback, x, 2, 2 * PIXELS, 5, y_callback, 2 * LOW));
  CHECK(max_difference(y, y_callback, 2 * LOW) < 1e-6, "%s: simulated y differ by %g", noise, max_difference(y, y_callback, 2 * LOW));
  OK(ctx, tweedie_problem_set_y(ctx, builtin, y, 2, 2 * LOW));
  OK(ctx, tweedie_problem_set_y(ctx, callback, y, 2, 2 * LOW));
  tweedie_solve_options o;
  tweedie_solve_options_init(&o);
  o.method = method;
  o.sampler = "ddpm";
  o.steps = strcmp(method, "dps") ? 12 : 200;  /* DPS's gradient steps need a fine grid */
  o.samples = strncmp(method, "map", 3) && strcmp(method, "pnp") && strcmp(method, "red") ? 2 : 1;
  o.iterations = 30;
  o.zeta = 1;
  o.seed = 4;
  tweedie_status sa = tweedie_solve(ctx, strncmp(method, "map", 3) ? prior : NULL, builtin, &o, NULL, 0, a, 2 * PIXELS, NULL, 0);
  CHECK(sa == TWEEDIE_OK, "%s on sr:2:avg: %s", method, tweedie_context_error(ctx));
  tweedie_status sb = tweedie_solve(ctx, strncmp(method, "map", 3) ? prior : NULL, callback, &o, NULL, 0, b, 2 * PIXELS, NULL, 0);
  CHECK(sb == TWEEDIE_OK, "%s on callbacks: %s", method, tweedie_context_error(ctx));
  CHECK(state.calls > 0, "%s never called the callbacks", method);
  /* Not a quality test (few steps): only that the estimate is an image near the truth, not noise or zeros. */
  double error_to_truth = mean_abs_difference(a, x, 2 * PIXELS);
  printf("  %-13s %-20s mean |estimate - truth| %.4f\n", method, noise, error_to_truth);
  CHECK(error_to_truth < 0.25, "%s: the estimate is %g from the truth on average", method, error_to_truth);
  tweedie_problem_destroy(builtin);
  tweedie_problem_destroy(callback);
  return sa == TWEEDIE_OK && sb == TWEEDIE_OK ? max_difference(a, b, 2 * PIXELS) : -1;
}

static void test_callback_operator_matches_builtin(tweedie_context* ctx, tweedie_prior* prior) {
  static const struct {
    const char* method;
    const char* noise;
    int linear;
  } cases[] = {
      {"map-tikhonov", "gaussian:sigma=0.05", 1}, {"map-tv", "gaussian:sigma=0.05", 1}, {"mmps", "gaussian:sigma=0.05", 1},
      {"dps", "gaussian:sigma=0.05", 1},          {"dps", "gaussian:sigma=0.05", 0},   {"pnp", "gaussian:sigma=0.05", 1},
      {"red", "gaussian:sigma=0.05", 1},          {"mmps", "poisson:scale=20", 1},    {"evidence", "poisson:scale=20", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    double d = compare_method(ctx, prior, cases[i].method, cases[i].noise, cases[i].linear);
    printf("  %-13s %-20s %-9s callbacks vs sr:2:avg: max |difference| %g\n", cases[i].method, cases[i].noise,
           cases[i].linear ? "linear" : "nonlinear", d);
    CHECK(d >= 0 && d <= 1e-5, "%s with %s: callback and built-in operator differ by %g", cases[i].method, cases[i].noise, d);
  }
}

static void test_callback_failure(tweedie_context* ctx, tweedie_prior* prior) {
  pool_state state = {0, 5};  /* the fifth callback fails */
  tweedie_operator_callbacks c = pool_callbacks(&state, 1);
  tweedie_problem* problem = NULL;
  OK(ctx, tweedie_problem_from_callbacks(ctx, &c, "gaussian:sigma=0.05", &problem));
  static float x[PIXELS], y[LOW], mean[PIXELS];
  smooth_images(x, 1);
  OK(ctx, tweedie_problem_simulate(ctx, problem, x, 1, PIXELS, 1, y, LOW));
  OK(ctx, tweedie_problem_set_y(ctx, problem, y, 1, LOW));
  tweedie_solve_options o;
  tweedie_solve_options_init(&o);
  o.steps = 10;
  REFUSED(ctx, tweedie_solve(ctx, prior, problem, &o, NULL, 0, mean, PIXELS, NULL, 0), TWEEDIE_ERROR_CALLBACK, "callback:avgpool");
  CHECK(strstr(tweedie_context_error(ctx), "returned 42") != NULL, "'%s'", tweedie_context_error(ctx));
  OK(ctx, tweedie_problem_adjoint(ctx, problem, y, 1, LOW, x, PIXELS));  /* later calls succeed again */
  tweedie_problem_destroy(problem);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s EXACT_PRIOR.h5\n", argv[0]);
    return 2;
  }
  test_library_facts();
  test_contexts();
  tweedie_context* ctx = NULL;
  OK(NULL, tweedie_context_create("cpu", 0, &ctx));
  test_bad_files_and_specs(ctx, argv[0], argv[1]);
  tweedie_prior* prior = NULL;
  REFUSED(ctx, tweedie_prior_open(ctx, argv[1], NULL, &prior), TWEEDIE_ERROR_ARGUMENT, "process");
  OK(ctx, tweedie_prior_open(ctx, argv[1], "vp", &prior));
  int64_t dims[4];
  int rank = 0;
  OK(ctx, tweedie_prior_item_shape(ctx, prior, dims, &rank));
  CHECK(rank == 3 && dims[0] == 1 && dims[1] == SIDE && dims[2] == SIDE, "prior items rank %d", rank);
  if (prior && rank == 3 && dims[1] == SIDE) {
    test_buffers_and_options(ctx, prior);
    test_sample_split(ctx, prior);
    test_callback_operator_matches_builtin(ctx, prior);
    test_callback_failure(ctx, prior);
    int64_t forward = -1, jvp = -1, vjp = -1;
    OK(ctx, tweedie_prior_counters(ctx, prior, &forward, &jvp, &vjp));
    CHECK(forward > 0 && jvp > 0, "counters %lld %lld %lld", (long long)forward, (long long)jvp, (long long)vjp);
  }
  tweedie_prior_destroy(prior);
  tweedie_context_destroy(ctx);
  printf("test_capi: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}

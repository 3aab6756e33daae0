// The C API (tweedie.h) over the C++ one: each entry point checks its handles and buffer lengths, runs
// the same library calls as the CLI, and turns every exception into a status and the context's message.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <string>

#include "tools/capi/callback_operator.h"
#include "tools/capi/tweedie.h"
#include "io/denoiser_file.h"
#include "io/observation_file.h"
#include "io/operator_spec.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "samplers/metrics.h"
#include "samplers/noise/likelihood.h"
#include "samplers/posterior/solve.h"

using namespace tweedie;

struct tweedie_context {
  std::unique_ptr<Context> ctx;
  std::string error;
  bool device_buffers = false;
};

struct tweedie_prior {
  std::shared_ptr<samplers::Denoiser> denoiser;
};

struct tweedie_problem {
  samplers::Signal x;
  std::shared_ptr<samplers::Operator> op;
  std::shared_ptr<samplers::NoiseModel> noise;
  Tensor y;  // undefined until set
};

namespace {

thread_local std::string create_error;  // tweedie_context_create's failures, per thread

// Runs `body`, mapping exceptions to statuses and recording the message in `error`.
template <class Body>
tweedie_status guarded(std::string& error, Body&& body) noexcept {
  try {
    body();
    error.clear();
    return TWEEDIE_OK;
  } catch (const capi::CallbackError& e) {
    error = e.what();
    return TWEEDIE_ERROR_CALLBACK;
  } catch (const ShapeError& e) {
    error = e.what();
    return TWEEDIE_ERROR_SHAPE;
  } catch (const ArgumentError& e) {
    error = e.what();
    return TWEEDIE_ERROR_ARGUMENT;
  } catch (const IoError& e) {
    error = e.what();
    return TWEEDIE_ERROR_FILE;
  } catch (const DeviceError& e) {
    error = e.what();
    return TWEEDIE_ERROR_DEVICE;
  } catch (const BackendError& e) {
    error = e.what();
    return TWEEDIE_ERROR_DEVICE;
  } catch (const NumericError& e) {
    error = e.what();
    return TWEEDIE_ERROR_NUMERIC;
  } catch (const std::bad_alloc&) {
    error = "out of memory";
    return TWEEDIE_ERROR_INTERNAL;
  } catch (const std::exception& e) {
    error = e.what();
    return TWEEDIE_ERROR_INTERNAL;
  } catch (...) {
    error = "unknown exception";
    return TWEEDIE_ERROR_INTERNAL;
  }
}

// Every call through a context: a null context has nowhere to put a message, so it only returns the status.
template <class Body>
tweedie_status with_context(tweedie_context* ctx, Body&& body) noexcept {
  if (!ctx) return TWEEDIE_ERROR_NULL_HANDLE;
  return guarded(ctx->error, [&] { body(*ctx); });
}

template <class T>
T& need(T* handle, const char* what) {
  if (!handle) throw ArgumentError(cat(what, " is NULL"));
  return *handle;
}

std::string text(const char* s, const char* fallback) { return s ? s : fallback; }

// Builds from a spec, naming the argument and the spec in any error that does not already.
template <class Build>
auto from_spec(const char* argument, const std::string& spec, Build&& build) {
  try {
    return build();
  } catch (const ArgumentError& e) {
    if (std::string(e.what()).find(argument) != std::string::npos) throw;
    throw ArgumentError(cat(argument, " \"", spec, "\": ", e.what()));
  }
}

Shape shape_of(const int64_t* dims, int rank, const char* what) {
  if (!dims || rank < 1 || rank > 4) throw ArgumentError(cat(what, ": rank ", rank, " (need 1 to 4 dims)"));
  for (int a = 0; a < rank; ++a)
    if (dims[a] < 1) throw ShapeError(cat(what, "[", a, "] is ", dims[a], ": need >= 1"));
  return Shape(std::span<const std::int64_t>(reinterpret_cast<const std::int64_t*>(dims), static_cast<std::size_t>(rank)));
}

void write_shape(const Shape& s, int64_t dims[4], int* rank) {
  // Volumes with coils, (K, D, H, W) and beyond, do not fit the API's four extents.
  if (s.rank() > 4) throw ShapeError(cat("the shape ", s.str(), " has ", s.rank(), " dimensions; the C API reports up to 4"));
  if (rank) *rank = s.rank();
  if (dims)
    for (int a = 0; a < 4; ++a) dims[a] = a < s.rank() ? s[a] : 0;
}

std::int64_t float_count(std::int64_t items, const samplers::Signal& s) {
  return items * s.shape.numel() * (s.dtype == DType::c64 ? 2 : 1);
}

// The caller's buffer of `items` items of `s` as a tensor on the context's device, borrowed in place
// when it already lives there (device buffers on a GPU context, host buffers on a CPU one) and copied
// otherwise. Checks the length the caller gave.
Tensor caller_tensor(tweedie_context& c, const float* data, std::int64_t length, std::int64_t items, const samplers::Signal& s,
                     const char* what) {
  if (!data) throw ArgumentError(cat(what, " is NULL"));
  const std::int64_t need = float_count(items, s);
  if (length != need)
    throw ShapeError(cat(what, " has ", length, " floats, but ", items, " items of ", s.str(), " need ", need));
  const Device device = c.ctx->device();
  const Shape shape = samplers::batched(items, s.shape);
  Tensor t = Tensor::borrow(const_cast<float*>(data), shape, c.device_buffers ? device : Device::cpu(), s.dtype);
  return t.device() == device ? t : t.to(device);
}

// Copies a result into the caller's buffer (on the host or the context's GPU).
void to_caller(tweedie_context& c, const Tensor& result, float* data) {
  Tensor dst = Tensor::borrow(data, result.shape(), c.device_buffers ? c.ctx->device() : Device::cpu(), result.dtype());
  dst.copy_from(result);
  c.ctx->synchronize();
}

void check_length(std::int64_t length, std::int64_t need, const char* what, const std::string& of) {
  if (length != need) throw ShapeError(cat(what, " has ", length, " floats, but ", of, " need ", need));
}

samplers::SolveOptions solve_options(const tweedie_solve_options* o) {
  if (!o) throw ArgumentError("options is NULL (fill them with tweedie_solve_options_init)");
  if (o->struct_size != static_cast<int64_t>(sizeof(tweedie_solve_options)))
    throw ArgumentError(cat("options.struct_size is ", o->struct_size, ", this library's tweedie_solve_options has ", sizeof(tweedie_solve_options),
                            " bytes: fill them with tweedie_solve_options_init"));
  samplers::SolveOptions s;
  s.method = text(o->method, "mmps");
  s.seed = o->seed;
  s.sampler.kind = text(o->sampler, "ddim");
  s.sampler.steps = o->steps;
  s.sampler.eta = o->eta;
  s.mmps.krylov.max_iterations = o->cg_iterations;
  s.mmps.krylov.tolerance = o->tolerance;
  s.mmps.covariance = text(o->covariance, "tweedie");
  s.mmps.tweedie_max_noise = o->tweedie_max_noise;
  s.dps.zeta = o->zeta;
  s.baseline.lambda = o->lambda;
  s.baseline.iterations = o->iterations;
  s.baseline.noise_level = o->noise_level;
  s.baseline.rho = o->rho;
  if (o->samples < 1) throw ArgumentError(cat("options.samples is ", o->samples, ": need at least 1"));
  if (o->batch < 0) throw ArgumentError(cat("options.batch is ", o->batch, ": need >= 0 (0: all at once)"));
  if (s.method == "rmp" || s.method == "ess")
    throw ArgumentError(cat("options.method '", s.method, "': the C API runs every method of tweedie solve but rmp and ess"));
  if (!samplers::solve_method_samples(s.method) && o->samples != 1)
    throw ArgumentError(cat("options.samples is ", o->samples, ": ", s.method, " gives one estimate per observation"));
  if (s.sampler.steps < 1) throw ArgumentError(cat("options.steps is ", s.sampler.steps, ": need at least 1"));
  return s;
}

}  // namespace

extern "C" {

const char* tweedie_version(void) { return TWEEDIE_VERSION; }
int tweedie_has_cuda(void) { return TWEEDIE_HAS_CUDA ? 1 : 0; }

const char* tweedie_status_name(tweedie_status status) {
  switch (status) {
    case TWEEDIE_OK: return "success";
    case TWEEDIE_ERROR_ARGUMENT: return "bad argument";
    case TWEEDIE_ERROR_SHAPE: return "shape mismatch";
    case TWEEDIE_ERROR_FILE: return "file error";
    case TWEEDIE_ERROR_DEVICE: return "device error";
    case TWEEDIE_ERROR_NUMERIC: return "numeric error";
    case TWEEDIE_ERROR_CALLBACK: return "operator callback failed";
    case TWEEDIE_ERROR_NULL_HANDLE: return "null handle";
    case TWEEDIE_ERROR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

tweedie_status tweedie_context_create(const char* device, int threads, tweedie_context** out) {
  if (out) *out = nullptr;
  return guarded(create_error, [&] {
    if (!out) throw ArgumentError("tweedie_context_create: out is NULL");
    if (threads < 0) throw ArgumentError(cat("threads is ", threads, ": need >= 0 (0: all cores)"));
    auto c = std::make_unique<tweedie_context>();
    c->ctx = std::make_unique<Context>(Device::parse(text(device, "cpu")), threads);
    *out = c.release();
  });
}

void tweedie_context_destroy(tweedie_context* ctx) { delete ctx; }

const char* tweedie_context_error(const tweedie_context* ctx) { return ctx ? ctx->error.c_str() : create_error.c_str(); }

tweedie_status tweedie_context_set_threads(tweedie_context* ctx, int threads) {
  return with_context(ctx, [&](tweedie_context& c) {
    if (threads < 0) throw ArgumentError(cat("threads is ", threads, ": need >= 0 (0: all cores)"));
    c.ctx->set_threads(threads);
  });
}

tweedie_status tweedie_context_set_buffers(tweedie_context* ctx, tweedie_buffers where) {
  return with_context(ctx, [&](tweedie_context& c) {
    if (where != TWEEDIE_BUFFERS_HOST && where != TWEEDIE_BUFFERS_DEVICE)
      throw ArgumentError(cat("buffers ", int(where), ": TWEEDIE_BUFFERS_HOST or TWEEDIE_BUFFERS_DEVICE"));
    if (where == TWEEDIE_BUFFERS_DEVICE && c.ctx->device().is_cpu())
      throw ArgumentError("TWEEDIE_BUFFERS_DEVICE: the context is on the cpu; create it on cuda:N for device buffers");
    c.device_buffers = where == TWEEDIE_BUFFERS_DEVICE;
  });
}

tweedie_status tweedie_prior_open(tweedie_context* ctx, const char* path, const char* process, tweedie_prior** out) {
  if (out) *out = nullptr;
  return with_context(ctx, [&](tweedie_context& c) {
    if (!out) throw ArgumentError("tweedie_prior_open: out is NULL");
    if (!path) throw ArgumentError("tweedie_prior_open: path is NULL");
    DenoiserOptions options;
    options.process_spec = text(process, "");
    auto prior = std::make_unique<tweedie_prior>();
    prior->denoiser = load_denoiser(path, options, c.ctx->device());
    *out = prior.release();
  });
}

void tweedie_prior_destroy(tweedie_prior* prior) { delete prior; }

tweedie_status tweedie_prior_item_shape(tweedie_context* ctx, const tweedie_prior* prior, int64_t dims[4], int* rank) {
  return with_context(ctx, [&](tweedie_context&) { write_shape(need(prior, "prior").denoiser->item_shape(), dims, rank); });
}

tweedie_status tweedie_prior_counters(tweedie_context* ctx, const tweedie_prior* prior, int64_t* forward, int64_t* jvp, int64_t* vjp) {
  return with_context(ctx, [&](tweedie_context&) {
    const samplers::Denoiser& d = *need(prior, "prior").denoiser;
    if (forward) *forward = d.forward_count;
    if (jvp) *jvp = d.jvp_count;
    if (vjp) *vjp = d.vjp_count;
  });
}

tweedie_status tweedie_problem_open(tweedie_context* ctx, const char* path, tweedie_problem** out) {
  if (out) *out = nullptr;
  return with_context(ctx, [&](tweedie_context& c) {
    if (!out) throw ArgumentError("tweedie_problem_open: out is NULL");
    if (!path) throw ArgumentError("tweedie_problem_open: path is NULL");
    Observation o = load_observation(path, c.ctx->device());
    if (!o.noise.noise) throw ArgumentError(cat(path, ": the noise model is none, so there is no likelihood to solve with"));
    auto p = std::make_unique<tweedie_problem>();
    p->x = o.x;
    p->op = o.op.op;
    p->noise = o.noise.noise;
    p->y = o.y;
    *out = p.release();
  });
}

tweedie_status tweedie_problem_from_specs(tweedie_context* ctx, const char* operator_spec, const char* noise_spec, const int64_t* x_dims,
                                          int x_rank, tweedie_problem** out) {
  if (out) *out = nullptr;
  return with_context(ctx, [&](tweedie_context& c) {
    if (!out) throw ArgumentError("tweedie_problem_from_specs: out is NULL");
    if (!operator_spec) throw ArgumentError("operator_spec is NULL");
    if (!noise_spec) throw ArgumentError("noise_spec is NULL (give \"gaussian:sigma=S\", \"poisson:scale=S\", ...)");
    auto p = std::make_unique<tweedie_problem>();
    p->x = {shape_of(x_dims, x_rank, "x_dims"), DType::f32};
    SpecOptions options;
    options.flag = "operator_spec";
    p->op = from_spec("operator_spec", operator_spec, [&] { return build_operator(operator_spec, p->x, c.ctx->device(), options).op; });
    options.flag = "noise_spec";
    p->noise = from_spec("noise_spec", noise_spec, [&] { return build_noise(noise_spec, p->op->output(), c.ctx->device(), options).noise; });
    if (!p->noise) throw ArgumentError("noise_spec \"none\": a problem needs a noise model to have a likelihood");
    *out = p.release();
  });
}

tweedie_status tweedie_problem_from_callbacks(tweedie_context* ctx, const tweedie_operator_callbacks* op, const char* noise_spec,
                                              tweedie_problem** out) {
  if (out) *out = nullptr;
  return with_context(ctx, [&](tweedie_context& c) {
    if (!out) throw ArgumentError("tweedie_problem_from_callbacks: out is NULL");
    if (!noise_spec) throw ArgumentError("noise_spec is NULL (give \"gaussian:sigma=S\", \"poisson:scale=S\", ...)");
    auto p = std::make_unique<tweedie_problem>();
    p->op = std::make_shared<capi::CallbackOperator>(need(op, "operator callbacks"));
    p->x = p->op->input();
    SpecOptions options;
    options.flag = "noise_spec";
    p->noise = from_spec("noise_spec", noise_spec, [&] { return build_noise(noise_spec, p->op->output(), c.ctx->device(), options).noise; });
    if (!p->noise) throw ArgumentError("noise_spec \"none\": a problem needs a noise model to have a likelihood");
    *out = p.release();
  });
}

void tweedie_problem_destroy(tweedie_problem* problem) { delete problem; }

tweedie_status tweedie_problem_set_y(tweedie_context* ctx, tweedie_problem* problem, const float* y, int64_t m, int64_t length) {
  return with_context(ctx, [&](tweedie_context& c) {
    tweedie_problem& p = need(problem, "problem");
    if (m < 1) throw ArgumentError(cat("m is ", m, ": need at least one observation"));
    Tensor t = caller_tensor(c, y, length, m, p.op->output(), "y").clone();  // the caller may reuse its buffer
    samplers::Likelihood(p.op, p.noise).validate(*c.ctx, t, "y");
    p.y = t;
  });
}

tweedie_status tweedie_problem_shapes(tweedie_context* ctx, const tweedie_problem* problem, int64_t x_dims[4], int* x_rank,
                                      int64_t y_dims[4], int* y_rank, int* y_complex, int64_t* observations) {
  return with_context(ctx, [&](tweedie_context&) {
    const tweedie_problem& p = need(problem, "problem");
    write_shape(p.op->input().shape, x_dims, x_rank);
    write_shape(p.op->output().shape, y_dims, y_rank);
    if (y_complex) *y_complex = p.op->output().dtype == DType::c64;
    if (observations) *observations = p.y.defined() ? p.y.dim(0) : 0;
  });
}

tweedie_status tweedie_problem_apply(tweedie_context* ctx, const tweedie_problem* problem, const float* x, int64_t n, int64_t x_length,
                                     float* y, int64_t y_length) {
  return with_context(ctx, [&](tweedie_context& c) {
    const tweedie_problem& p = need(problem, "problem");
    if (n < 1) throw ArgumentError(cat("n is ", n, ": need at least one item"));
    Tensor xt = caller_tensor(c, x, x_length, n, p.op->input(), "x");
    if (!y) throw ArgumentError("y is NULL");
    check_length(y_length, float_count(n, p.op->output()), "y", cat(n, " items of ", p.op->output().str()));
    Tensor yt = p.op->make_output(n, c.ctx->device());
    p.op->apply(*c.ctx, xt, yt);
    to_caller(c, yt, y);
  });
}

tweedie_status tweedie_problem_adjoint(tweedie_context* ctx, const tweedie_problem* problem, const float* y, int64_t n, int64_t y_length,
                                       float* x, int64_t x_length) {
  return with_context(ctx, [&](tweedie_context& c) {
    const tweedie_problem& p = need(problem, "problem");
    if (n < 1) throw ArgumentError(cat("n is ", n, ": need at least one item"));
    Tensor yt = caller_tensor(c, y, y_length, n, p.op->output(), "y");
    if (!x) throw ArgumentError("x is NULL");
    check_length(x_length, float_count(n, p.op->input()), "x", cat(n, " items of ", p.op->input().str()));
    Tensor xt = p.op->make_input(n, c.ctx->device());
    p.op->adjoint(*c.ctx, yt, xt);
    to_caller(c, xt, x);
  });
}

tweedie_status tweedie_problem_simulate(tweedie_context* ctx, const tweedie_problem* problem, const float* x, int64_t n, int64_t x_length,
                                        uint64_t seed, float* y, int64_t y_length) {
  return with_context(ctx, [&](tweedie_context& c) {
    const tweedie_problem& p = need(problem, "problem");
    if (n < 1) throw ArgumentError(cat("n is ", n, ": need at least one item"));
    Tensor xt = caller_tensor(c, x, x_length, n, p.op->input(), "x");
    if (!y) throw ArgumentError("y is NULL");
    check_length(y_length, float_count(n, p.op->output()), "y", cat(n, " items of ", p.op->output().str()));
    Tensor yt = p.op->make_output(n, c.ctx->device());
    samplers::Likelihood(p.op, p.noise).simulate(*c.ctx, xt, RandomStream{seed, 0}, yt);
    to_caller(c, yt, y);
  });
}

void tweedie_solve_options_init(tweedie_solve_options* o) {
  if (!o) return;
  const samplers::SolveOptions s;
  *o = tweedie_solve_options{};
  o->struct_size = sizeof(tweedie_solve_options);
  o->method = "mmps";
  o->samples = 1;
  o->batch = 0;
  o->seed = 0;
  o->sampler = "ddim";
  o->steps = s.sampler.steps;
  o->eta = s.sampler.eta;
  o->cg_iterations = s.mmps.krylov.max_iterations;
  o->tolerance = s.mmps.krylov.tolerance;
  o->covariance = "tweedie";
  o->tweedie_max_noise = s.mmps.tweedie_max_noise;
  o->zeta = s.dps.zeta;
  o->lambda = s.baseline.lambda;
  o->iterations = s.baseline.iterations;
  o->noise_level = s.baseline.noise_level;
  o->rho = s.baseline.rho;
}

tweedie_status tweedie_solve(tweedie_context* ctx, const tweedie_prior* prior, const tweedie_problem* problem,
                             const tweedie_solve_options* options, float* samples, int64_t samples_length, float* mean,
                             int64_t mean_length, float* std, int64_t std_length) {
  return with_context(ctx, [&](tweedie_context& c) {
    const tweedie_problem& p = need(problem, "problem");
    samplers::SolveOptions o = solve_options(options);
    if (!p.y.defined()) throw ArgumentError("problem has no observations: give them with tweedie_problem_set_y");
    samplers::SolveProblem sp{prior ? prior->denoiser : nullptr, p.op, p.noise, p.y};
    samplers::check_solve_problem(*c.ctx, o, sp, cat("method ", o.method));
    const std::int64_t m = p.y.dim(0), per = options->samples, total = m * per;
    const std::string items = cat(" items of ", p.op->input().str());
    if (samples) check_length(samples_length, float_count(total, p.op->input()), "samples", cat(total, items));
    if (mean) check_length(mean_length, float_count(m, p.op->input()), "mean", cat(m, items));
    if (std) check_length(std_length, float_count(m, p.op->input()), "std", cat(m, items));
    Tensor all = p.op->make_input(total, c.ctx->device());
    const std::int64_t batch = options->batch > 0 ? options->batch : total;
    for (std::int64_t first = 0; first < total; first += batch) {
      const std::int64_t n = std::min(batch, total - first);
      Tensor dst = all.slice(first, n);
      dst.copy_from(samplers::solve_rows(*c.ctx, o, sp, per, first, n));
    }
    samplers::SampleMoments moments = samplers::sample_moments(all, m);
    if (samples) to_caller(c, all, samples);
    if (mean) to_caller(c, moments.mean, mean);
    if (std) to_caller(c, moments.std, std);
  });
}

tweedie_status tweedie_sample(tweedie_context* ctx, const tweedie_prior* prior, const tweedie_solve_options* options, int64_t count,
                              int64_t first_index, float* out, int64_t out_length) {
  return with_context(ctx, [&](tweedie_context& c) {
    const samplers::Denoiser& d = *need(prior, "prior").denoiser;
    samplers::SolveOptions o = solve_options(options);
    if (count < 1) throw ArgumentError(cat("count is ", count, ": need at least 1"));
    if (first_index < 0) throw ArgumentError(cat("first_index is ", first_index, ": need >= 0"));
    if (!out) throw ArgumentError("out is NULL");
    const samplers::Signal item{d.item_shape(), DType::f32};
    check_length(out_length, float_count(count, item), "out", cat(count, " items of ", item.str()));
    to_caller(c, samplers::sample(*c.ctx, d, o.sampler, count, o.seed, first_index), out);
  });
}

}  // extern "C"

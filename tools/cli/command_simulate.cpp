// `tweedie simulate`: draws observations y = noise(A(x)) of known signals, and `tweedie apply`:
// applies an operator or its adjoint. The observation file carries everything needed to solve the
// problem later: y, the operator and noise specs, and copies of the data files they name.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "io/hdf5_file.h"
#include "io/observation_file.h"
#include "io/operator_spec.h"
#include "io/png_file.h"
#include "runtime/check.h"
#include "runtime/error.h"
#include "samplers/noise/likelihood.h"

namespace tweedie::cli {
namespace {

struct ForwardFlags {
  std::string op, noise = "none", x, output, png, device = "cpu", x_shape;
  std::uint64_t seed = 0;
  int threads = 0;
  bool adjoint = false, complex = false;
};

samplers::Signal item_signal(const Tensor& batch) {
  if (batch.rank() < 2)
    throw ShapeError(cat("--x: the dataset is ", batch.shape().str(), "; its first axis counts items, so one image is (1, C, H, W)"));
  return {Shape(batch.shape().dims().subspan(1)), batch.dtype()};
}

// A picture of y: images as they are, k-space as log(1 + |y|), each scaled to its own range.
void write_observation_png(const std::string& path, const Tensor& y) {
  if (y.rank() != 4) throw ArgumentError(cat("--png: y is ", y.shape().str(), "; PNG needs image observations (N, C, H, W)"));
  write_png_view(path, y, /*own_range=*/true, /*log_magnitude=*/true);
}

void run_simulate(const ForwardFlags& f) {
  Device device = Device::parse(f.device);
  Context ctx(device, f.threads);
  DatasetRef xref = parse_dataset_ref("--x", f.x, "x");
  Tensor x = read_dataset("--x", xref, device, /*keep_complex=*/true);
  expect_finite_items(x, cat("--x ", xref.file, ":", xref.dataset), "signals must be finite");
  samplers::Signal xs = item_signal(x);
  SpecOptions options;
  options.seed = f.seed;
  options.items = x.dim(0);
  BuiltOperator op = build_operator(f.op, xs, device, options);
  BuiltNoise noise = build_noise(f.noise, op.op->output(), device, options);

  std::int64_t n = x.dim(0);
  Tensor y = op.op->make_output(n, device);
  if (noise.noise) {
    samplers::Likelihood lik(op.op, noise.noise);
    lik.simulate(ctx, x, RandomStream{f.seed, 0}, y);
  } else {
    op.op->apply(ctx, x, y);
  }
  if (!f.png.empty()) write_observation_png(f.png, y);
  save_observation(f.output, y, xs, op, noise, {{"seed", std::to_string(f.seed)}, {"x_file", xref.file}});
  H5File saved = H5File::open(f.output);
  std::string op_spec = saved.string_attribute("", "operator"), noise_spec = saved.string_attribute("", "noise");
  nlohmann::json report{{"items", n},
                        {"operator", op_spec},
                        {"noise", noise_spec},
                        {"x", xs.str()},
                        {"y", op.op->output().str()},
                        {"output", f.output}};
  std::cout << report.dump() << "\n";
}

void run_apply(const ForwardFlags& f) {
  Device device = Device::parse(f.device);
  Context ctx(device, f.threads);
  DatasetRef ref = parse_dataset_ref("--x", f.x, f.adjoint ? "y" : "x");
  Tensor input = read_dataset("--x", ref, device, /*keep_complex=*/true);
  expect_finite_items(input, cat("--x ", ref.file, ":", ref.dataset), "inputs must be finite");
  SpecOptions options;
  options.seed = f.seed;
  samplers::Signal xs;
  if (f.adjoint) {
    // The operator is built for x, whose shape y does not always tell (sr:4 of what?).
    std::string shape = f.x_shape;
    SpecOptions probe = options;
    resolve_spec_text(f.op, "operator", probe);
    if (shape.empty() && !probe.base_file.empty()) {
      H5File obs = H5File::open(probe.base_file);
      if (obs.has_attribute("", "x_shape")) {
        shape = obs.string_attribute("", "x_shape");
        if (obs.has_attribute("", "x_dtype") && obs.string_attribute("", "x_dtype") == "c64") xs.dtype = DType::c64;
      }
    }
    if (shape.empty()) throw ArgumentError("--adjoint: give --x-shape C,H,W (one x item) so the operator can be built");
    xs.shape = parse_shape("--x-shape", shape);
    if (f.complex) xs.dtype = DType::c64;
  } else {
    xs = item_signal(input);
  }
  if (input.rank() >= 1) options.items = input.dim(0);
  BuiltOperator op = build_operator(f.op, xs, device, options);
  H5File out = H5File::create(f.output);
  std::int64_t n = f.adjoint ? op.op->batch_of_output(ctx, input, "--x (y for --adjoint)") : op.op->batch_of_input(ctx, input, "--x");
  Tensor result = f.adjoint ? op.op->make_input(n, device) : op.op->make_output(n, device);
  if (f.adjoint) op.op->adjoint(ctx, input, result);
  else op.op->apply(ctx, input, result);
  const char* name = f.adjoint ? "x" : "y";
  out.write(name, result);
  out.set_attribute(name, "operator", op.op->describe());
  out.set_attribute(name, "adjoint", std::int64_t(f.adjoint));
  if (!f.png.empty()) write_observation_png(f.png, result);
  out.commit();
  std::cout << nlohmann::json{{"items", n}, {"operator", op.op->describe()}, {"adjoint", f.adjoint}, {"output", f.output}}.dump() << "\n";
}

// The spec grammar, in every command that takes one (README.md has the long form).
const char* kSpecHelp = R"(
Operator SPECs (x items (C,H,W) unless noted; A|B applies A, then B):
  identity                                   y = x, any shape
  inpaint:p=P[:channels=shared|each][:seed=S]   keep each pixel with probability P
  inpaint:box=TOP,LEFT,HEIGHT,WIDTH          a missing box
  inpaint:mask=FILE                          mask (C,H,W) or (1,H,W) from HDF5
  sr:F[:bicubic|avg]                         downsample by F (antialiased bicubic as DPS, or average)
  blur:gauss:SIZE:SIGMA | blur:motion:SIZE:INTENSITY[:seed=S] | blur:kernel=FILE
                                             [:circular|reflect] boundary (default circular, FFT)
  matrix:a=FILE                              y = A vec(x), A (M, D)
  matrix:random=M[:seed=S]                   M random unit rows, any item shape
  each:SPEC                                  one operator per observation: seed S + i, datasets
                                             with one entry per observation (masks (N,C,H,W), ...)
  mri:R=R[:pattern=random|equispaced|poisson|gaussian][:centre=N][:seed=S][:coils=FILE]
  mri:mask=FILE[:coils=FILE]                 Cartesian MRI, centred orthonormal FFT; coils (K,H,W) c64
  mri:traj=radial|spiral|FILE[:R=R|spokes=S|interleaves=L][:tol=T][:coils=FILE]
                                             non-Cartesian MRI by the NUFFT, (k_y,k_x) in cycles/FOV;
                                             nufft:traj=... is the same
  phase[:pad=P]                              y = |F(pad(x))|, nonlinear
Noise SPECs:
  gaussian:sigma=S|FILE   poisson:scale=S[:link=exp|softplus]   binomial:n=N|FILE[:scale=S]   none
  gaussian:cov=FILE (Sigma_y, M x M)   gaussian:sigma=S|FILE:factor=FILE (diag(S^2) + F^T F, F R x M)
FILE is FILE, FILE#DATASET, or #DATASET of the HDF5 file the spec came from. A SPEC may also be a JSON
file or inline JSON ({"kind": "sr", "args": [4]}), or an HDF5 file with a root attribute operator/noise
(an observation file from tweedie simulate).)";

void add_common(CLI::App* cmd, ForwardFlags& f) {
  cmd->footer(kSpecHelp);
  cmd->add_option("--operator", f.op, "Forward operator SPEC (see README: identity, inpaint, sr, blur, matrix, mri, nufft, phase; OP|OP chains)")->required();
  cmd->add_option("-o,--output", f.output, "Output HDF5 file")->required();
  cmd->add_option("--seed", f.seed, "Seed for random masks, kernels and noise")->capture_default_str();
  cmd->add_option("--png", f.png, "Also write the result as a PNG grid (k-space as log(1 + |y|))");
  cmd->add_option("--device", f.device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_option("--threads", f.threads, "Host threads (0: all)")->capture_default_str();
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  auto f = std::make_shared<ForwardFlags>();
  auto* cmd = app.add_subcommand("simulate", "Draw observations y = noise(A(x)) of signals x");
  add_common(cmd, *f);
  cmd->add_option("--noise", f->noise, "Noise SPEC: gaussian:sigma=S, poisson:scale=S[:link=exp|softplus], binomial:n=N[:scale=S], none")
      ->capture_default_str();
  cmd->add_option("--x", f->x, "Signals as FILE or FILE:DATASET (default dataset x), first axis the items")->required();
  cmd->callback([f] { run_simulate(*f); });
}

void add_apply_command(CLI::App& app) {
  auto f = std::make_shared<ForwardFlags>();
  auto* cmd = app.add_subcommand("apply", "Apply an operator A, or its adjoint A^T, to a batch");
  add_common(cmd, *f);
  cmd->add_option("--x", f->x, "Input as FILE or FILE:DATASET (default dataset x, or y with --adjoint), first axis the items")->required();
  cmd->add_flag("--adjoint", f->adjoint, "Apply A^T to observations y (linear operators)");
  cmd->add_option("--x-shape", f->x_shape, "With --adjoint: the shape of one x item, C,H,W (read from an observation file if it is the SPEC)");
  cmd->add_flag("--complex", f->complex, "With --adjoint: x items are complex");
  cmd->callback([f] { run_apply(*f); });
}

}  // namespace tweedie::cli

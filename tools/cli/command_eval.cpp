// `tweedie eval`: the raw network output on an input batch, and optionally a JVP and a VJP through it.
// This is how users check converted weights against their own framework.
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "io/model_file.h"
#include "runtime/error.h"
#include "runtime/timer.h"

namespace tweedie::cli {
namespace {

struct EvalFlags {
  std::string model, x, t, label, tangent, cotangent, output, device = "cpu";
  int threads = 0;
};

void run_eval(const EvalFlags& f) {
  Device device = Device::parse(f.device);
  Context ctx(device, f.threads);
  Timer timer;
  std::unique_ptr<nn::Network> net = load_model(f.model, device);
  Tensor x = read_dataset("--x", parse_dataset_ref("--x", f.x, "x"), device);
  nn::Conditioning c;
  c.t = parse_floats("--t", f.t);
  if (!f.label.empty()) c.labels = parse_integers("--label", f.label);
  Shape y_shape = net->output_shape(x.shape());
  Tensor y = Tensor::empty(y_shape, device);

  // Read everything before computing or creating the output, so that bad input fails fast and leaves nothing.
  Tensor v, u;
  if (!f.tangent.empty()) {
    v = read_dataset("--tangent", parse_dataset_ref("--tangent", f.tangent, "tangent"), device);
    if (v.shape() != x.shape())
      throw ShapeError(cat("--tangent: ", f.tangent, " has shape ", v.shape().str(), ", x has ", x.shape().str()));
  }
  if (!f.cotangent.empty()) {
    u = read_dataset("--cotangent", parse_dataset_ref("--cotangent", f.cotangent, "cotangent"), device);
    if (u.shape() != y_shape)
      throw ShapeError(cat("--cotangent: ", f.cotangent, " has shape ", u.shape().str(), ", the output has ", y_shape.str()));
  }
  H5File out = H5File::create(f.output);
  Tensor jv, ju;
  if (v.defined() || u.defined()) {
    auto lin = net->linearize(ctx, x, c, y);
    if (v.defined()) {
      jv = Tensor::empty(y_shape, device);
      net->jvp(ctx, *lin, v, jv);
    }
    if (u.defined()) {
      ju = Tensor::empty(x.shape(), device);
      net->vjp(ctx, *lin, u, ju, false);
    }
  } else {
    net->forward(ctx, x, c, y);
  }
  out.write("y", y);
  if (jv.defined()) out.write("jvp", jv);
  if (ju.defined()) out.write("vjp", ju);
  out.set_attribute("", "model", f.model);
  out.set_attribute("", "architecture", net->architecture());
  out.set_attribute("", "t", f.t);
  out.commit();
  std::cerr << "tweedie eval: " << net->architecture() << " on " << x.shape().str() << " -> " << y_shape.str()
            << (jv.defined() ? " + jvp" : "") << (ju.defined() ? " + vjp" : "") << ", " << timer.seconds() << " s on "
            << device.str() << " (" << ctx.threads() << " threads); wrote " << f.output << "\n";
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a network (and a JVP and/or VJP through it) on an HDF5 batch");
  auto f = std::make_shared<EvalFlags>();
  cmd->add_option("--model", f->model, "Model file (tweedie HDF5)")->required();
  cmd->add_option("--x", f->x, "Input batch (N,C,H,W), (N,C,L) or (N,D): FILE or FILE:DATASET (default dataset x)")->required();
  cmd->add_option("--t", f->t, "Network time input: one value, or one per item (comma-separated)")->required();
  cmd->add_option("--label", f->label, "Class label(s) for class-conditional models: one, or one per item");
  cmd->add_option("--tangent", f->tangent, "Also write jvp = J v for this tangent v (shape of x)");
  cmd->add_option("--cotangent", f->cotangent, "Also write vjp = J^T u for this cotangent u (shape of the output)");
  cmd->add_option("--device", f->device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Host threads (0: all)")->capture_default_str();
  cmd->add_option("-o,--output", f->output, "Output HDF5 file: datasets y, jvp, vjp")->required();
  cmd->callback([f] { run_eval(*f); });
}

}  // namespace tweedie::cli

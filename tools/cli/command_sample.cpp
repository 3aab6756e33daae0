// `tweedie sample`: unconditional samples from a prior (a network model file or an exact prior file)
// with any of the samplers, written to HDF5 and optionally as a PNG grid.
#include <unistd.h>

#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/distributed.h"
#include "cli/run_checkpoint.h"
#include "io/denoiser_file.h"
#include "io/hdf5_file.h"
#include "io/png_file.h"
#include "runtime/error.h"
#include "runtime/timer.h"
#include "samplers/metrics.h"
#include "samplers/sampler.h"

namespace tweedie::cli {
namespace {

struct SampleFlags {
  std::string prior, output, png, process, label, reference, device = "cpu";
  samplers::SamplerOptions sampler;
  std::int64_t samples = 1, batch = 0;
  std::uint64_t seed = 0;
  int threads = 0;
  bool clamp = false, quiet = false;
  CheckpointFlags checkpoint;
  const CLI::App* command = nullptr;
};

// Reference points for --reference: vectors (N, D) of the prior's D, read before any sampling.
Tensor read_reference(const std::string& text, const Shape& item) {
  DatasetRef ref = parse_dataset_ref("--reference", text, "x");
  Tensor r = read_dataset("--reference", ref, Device::cpu());
  if (item.rank() != 1 || r.rank() != 2 || r.dim(1) != item[0])
    throw ShapeError(cat("--reference ", text, " is ", r.shape().str(), " and the prior's items are ", item.str(),
                         "; the sliced W2 compares vectors (N, D) of the prior's D"));
  return r;
}

void run_sample(const SampleFlags& f) {
  if (f.samples < 1) throw ArgumentError(cat("--samples: ", f.samples, " (need at least 1)"));
  if (f.batch < 0) throw ArgumentError(cat("--batch: ", f.batch, " (need at least 1, or 0 for all at once)"));
  Device device = rank_device(f.device);
  Context ctx(device, f.threads);
  const Ranks& job = ranks();
  if (!f.checkpoint.path.empty()) refuse_several_ranks("--checkpoint");
  DenoiserOptions o;
  o.process_spec = f.process;
  o.clamp = f.clamp;
  if (!f.label.empty()) o.labels = parse_integers("--label", f.label);
  std::unique_ptr<samplers::Denoiser> d = load_denoiser(f.prior, o, device);
  Shape item = d->item_shape();
  if (!f.png.empty() && item.rank() != 3)
    throw ArgumentError(cat("--png: the prior's samples have shape ", item.str(), "; PNG grids need images (C, H, W)"));

  Tensor reference = f.reference.empty() ? Tensor() : read_reference(f.reference, item);
  // Create the output first so that a bad path fails before minutes of sampling; it appears only at
  // commit. Rank 0 writes it.
  std::optional<H5File> out;
  if (job.root()) out.emplace(H5File::create(f.output));
  std::vector<std::int64_t> dims{f.samples};
  for (int i = 0; i < item.rank(); ++i) dims.push_back(item[i]);
  Tensor all = Tensor::empty(Shape(std::span<const std::int64_t>(dims)), device);
  const std::int64_t batch = rank_batch(f.samples, f.batch);
  const bool progress = !f.quiet && job.root() && ::isatty(STDERR_FILENO);
  RunCheckpoint checkpoint(f.checkpoint, "sample", run_settings(*f.command, {f.prior}), all, d.get());
  Timer timer;
  // This rank's block of samples, in batches; a plain run's block is all of them.
  const RowShare share = row_share(f.samples, batch);
  const std::int64_t end = share.first + share.count;
  for (std::int64_t first = share.first + checkpoint.finished_rows(); first < end; first += batch) {
    const std::int64_t n = std::min(batch, end - first);
    samplers::StepHook hook;
    if (progress)
      hook = [&](const samplers::StepInfo& s) {
        std::fprintf(stderr, "\rsamples %lld-%lld  step %d/%d  t=%.4g   ", (long long)first, (long long)(first + n - 1),
                     s.step + 1, s.steps, s.t);
      };
    Tensor x = samplers::sample(ctx, *d, f.sampler, n, f.seed, first, hook, {}, checkpoint.batch(ctx, first, n));
    Tensor dst = all.slice(first, n);
    dst.copy_from(x);
    checkpoint.batch_done(first, n);
  }
  if (progress) std::fprintf(stderr, "\n");
  ctx.synchronize();
  gather_rows(all, batch);
  const std::int64_t evaluations = sum_on_root(d->forward_count);
  if (!job.root()) return;
  out->write("samples", all);
  out->set_attribute("samples", "prior", f.prior);
  out->set_attribute("samples", "sampler", f.sampler.kind);
  out->set_attribute("samples", "steps", std::int64_t(f.sampler.steps));
  out->set_attribute("samples", "seed", std::int64_t(f.seed));
  out->set_attribute("samples", "process", d->process().name());
  if (!f.png.empty()) write_png_grid(f.png, all);
  out->commit();
  checkpoint.finished();
  nlohmann::json report{{"samples", f.samples}, {"sampler", f.sampler.kind}, {"steps", f.sampler.steps},
                        {"network_evaluations", evaluations}, {"seconds", timer.seconds()}};
  if (job.size > 1) report["ranks"] = job.size;
  if (reference.defined()) report["sliced_w2"] = samplers::sliced_wasserstein(all, reference);
  std::cout << report.dump() << "\n";
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto f = std::make_shared<SampleFlags>();
  auto* cmd = app.add_subcommand("sample", "Draw samples from a prior (model file or exact prior file)");
  cmd->add_option("--prior", f->prior, "Model file (network with its diffusion) or exact prior file (Gaussian, mixture)")->required();
  cmd->add_option("-o,--output", f->output, "Output HDF5 file: dataset samples (K, C, H, W) or (K, D)")->required();
  cmd->add_option("--sampler", f->sampler.kind, samplers::sampler_kind_list())->capture_default_str();
  cmd->add_option("--order", f->sampler.order, "eab: order of the exponential Adams-Bashforth step, 1..3")->capture_default_str();
  cmd->add_option("--steps", f->sampler.steps, "Sampler steps")->capture_default_str();
  cmd->add_option("--samples", f->samples, "Number of samples")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Random seed (a sample's noise depends only on the seed and its index)")->capture_default_str();
  cmd->add_option("--batch", f->batch, "Samples per batch (0: all at once; under mpirun, each rank's samples at once)")->capture_default_str();
  cmd->add_option("--eta", f->sampler.eta, "ddim: 0 deterministic .. 1 ancestral")->capture_default_str();
  cmd->add_option("--snr", f->sampler.snr, "pc: Langevin signal-to-noise ratio")->capture_default_str();
  cmd->add_option("--corrector-steps", f->sampler.corrector_steps, "pc: Langevin steps per step")->capture_default_str();
  cmd->add_option("--process", f->process, "Process for exact priors, or to run a model under (at its own noise levels): vp, subvp, ve, edm, cosine, ddpm-linear:1000, ... with :key=value,...");
  cmd->add_option("--label", f->label, "Class label(s) for class-conditional models");
  cmd->add_flag("--clamp", f->clamp, "Clip E[x | x_t] to [-1, 1]");
  cmd->add_option("--reference", f->reference, "Points FILE[:DATASET] (N, D) to report the samples' sliced W2 distance to (vectors)");
  cmd->add_option("--png", f->png, "Also write the samples as a PNG grid (images only; values in [-1, 1])");
  cmd->add_option("--device", f->device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Host threads (0: all)")->capture_default_str();
  cmd->add_flag("--quiet", f->quiet, "No progress on stderr");
  add_checkpoint_flags(cmd, f->checkpoint);
  f->command = cmd;
  cmd->callback([f] { run_sample(*f); });
}

}  // namespace tweedie::cli

// `tweedie coils`: coil sensitivity maps estimated from multi-coil k-space (ESPIRiT), for scans whose
// maps nobody measured. Reads an observation file of Cartesian or non-Cartesian MRI (y (N, K, ...) with
// the operator spec that says where k-space was sampled), calibrates on the k-space centre of one item
// and writes the maps, their eigenvalues and a root-sum-of-squares image; optionally compresses the
// coils first (SVD) and writes the compressed data beside the maps.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "io/hdf5_file.h"
#include "io/observation_file.h"
#include "io/png_file.h"
#include "kernels/fft.h"
#include "kernels/nufft.h"
#include "runtime/error.h"
#include "samplers/operators/coil_sensitivities.h"

namespace tweedie::cli {
namespace {

struct CoilsFlags {
  std::string kspace, output, png, phase = "image", observation;
  std::int64_t item = 0, calibration = 24, kernel = 6, compress = 0;
  double threshold = 0.02, crop = 0.95;
  int threads = 0;
};

// Coil images to look at: zero-filled inverse FFT (Cartesian) or density-compensated gridding (NUFFT).
Tensor coil_images(Context& ctx, const Tensor& y, const KspaceSampling& sampling, std::int64_t h, std::int64_t w) {
  const std::int64_t coils = y.dim(0);
  Tensor images = Tensor::empty({coils, h, w}, Device::cpu(), DType::c64);
  if (sampling.cartesian()) {
    Tensor t = Tensor::empty({coils, h, w}, Device::cpu(), DType::c64);
    ifftshift2(ctx, y, t);
    ifft2(ctx, t, t, FftNorm::ortho);
    fftshift2(ctx, t, images);
    return images;
  }
  const NufftPlan plan = make_nufft_plan(h, w, sampling.coords, sampling.nufft, Device::cpu());
  const std::vector<float> weight = nufft_density_compensation(ctx, plan).to_vector<float>();
  std::vector<complex64> v = y.to_vector<complex64>();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = complex64{v[i].re * weight[i % weight.size()], v[i].im * weight[i % weight.size()]};
  nufft_adjoint(ctx, plan, Tensor::from_host(std::span<const complex64>(v), y.shape()), images);
  return images;
}

// The spec of the operator without its coils= field (where k-space is sampled, and how).
std::string without_coils(const std::string& spec) {
  std::string out, field;
  std::stringstream in(spec);
  while (std::getline(in, field, ':'))
    if (field.rfind("coils=", 0) != 0) out += (out.empty() ? "" : ":") + field;
  return out;
}

// An observation file for the multi-coil problem with the estimated maps: y (compressed if asked), the
// same sampling and noise, coils= the maps just written; x is one (1, H, W) image.
void write_observation(const CoilsFlags& f, const Observation& obs, const Tensor& y) {
  const samplers::Signal x{{1, obs.x.shape[1], obs.x.shape[2]}, obs.x.dtype};
  SpecOptions options;
  options.flag = "--observation";
  options.items = y.dim(0);
  const BuiltOperator op = build_operator(cat(without_coils(obs.op.op->describe()), ":coils=", f.output, "#maps"), x, Device::cpu(), options);
  options.flag = "--observation (noise)";
  const BuiltNoise noise = build_noise(obs.noise.noise ? obs.noise.noise->describe() : "none", op.op->output(), Device::cpu(), options);
  check_observations(y, op, noise, cat("--observation ", f.observation));
  save_observation(f.observation, y, x, op, noise, {{"kspace", f.kspace}, {"maps", f.output}});
}

void run_coils(const CoilsFlags& f) {
  const auto start = std::chrono::steady_clock::now();
  Context ctx(Device::cpu(), f.threads);
  const Observation obs = load_observation(f.kspace, Device::cpu());
  const samplers::Signal& x = obs.x;
  if (x.shape.rank() != 3) throw ArgumentError(cat("--kspace ", f.kspace, ": the images are ", x.str(), ", not MRI images (C, H, W)"));
  const std::int64_t h = x.shape[1], w = x.shape[2], items = obs.y.dim(0);
  if (obs.y.dtype() != DType::c64 || obs.y.rank() < 3)
    throw ArgumentError(cat("--kspace ", f.kspace, ": y is ", obs.y.str(), "; multi-coil k-space is (N, K, ...) c64"));
  if (f.item < 0 || f.item >= items) throw ArgumentError(cat("--item ", f.item, ": ", f.kspace, " holds items 0 to ", items - 1));
  SpecOptions options;
  options.base_file = f.kspace;
  options.flag = cat("--kspace ", f.kspace, " (its operator)");
  const KspaceSampling sampling = kspace_sampling(obs.op.op->describe(), x, options);
  const std::int64_t coils = obs.y.dim(1);
  if (coils < 2) throw ArgumentError(cat("--kspace ", f.kspace, ": y is ", obs.y.str(), ", a single coil; coil maps need several"));

  // One item's k-space (K, ...), compressed to V virtual coils if asked: the compression is fitted on
  // that item, and every item goes through the same matrix.
  const Shape item_shape(obs.y.shape().dims().subspan(1));
  auto item = [&](std::int64_t n) { return obs.y.slice(n, 1).reshape(item_shape); };
  Tensor y = item(f.item);
  samplers::CoilCompression compression;
  Tensor compressed_all;
  if (f.compress > 0) {
    compression = samplers::coil_compression(y, f.compress);
    std::vector<complex64> all;
    for (std::int64_t n = 0; n < items; ++n) {
      const std::vector<complex64> z = samplers::compress_coils(item(n), compression).to_vector<complex64>();
      all.insert(all.end(), z.begin(), z.end());
    }
    std::vector<std::int64_t> dims(obs.y.shape().dims().begin(), obs.y.shape().dims().end());
    dims[1] = f.compress;
    compressed_all = Tensor::from_host(std::span<const complex64>(all), Shape(std::span<const std::int64_t>(dims)));
    y = compressed_all.slice(f.item, 1).reshape(Shape(std::span<const std::int64_t>(dims).subspan(1)));
  }

  samplers::Calibration region;
  if (sampling.cartesian()) {
    if (y.rank() != 3 || y.dim(1) != h || y.dim(2) != w)
      throw ArgumentError(cat("--kspace ", f.kspace, ": y is ", obs.y.str(), ", expected Cartesian k-space (N, K, ", h, ", ", w, ")"));
    region = samplers::cartesian_calibration(y, sampling.mask, f.calibration, f.kernel);
  } else {
    region = samplers::nufft_calibration(ctx, y, sampling.coords, f.calibration, sampling.nufft);
  }
  samplers::EspiritOptions eo;
  eo.kernel = f.kernel;
  eo.threshold = f.threshold;
  eo.crop = f.crop;
  eo.phase = f.phase == "coil0" ? samplers::EspiritPhase::coil0 : samplers::EspiritPhase::image;
  const samplers::EspiritMaps maps = samplers::espirit(ctx, region, h, w, eo);
  const Tensor rss = samplers::root_sum_of_squares(coil_images(ctx, y, sampling, h, w));

  H5File out = H5File::create(f.output);
  out.write("maps", maps.maps);
  out.write("eigenvalues", maps.eigenvalues);
  out.write("rss", rss);
  out.set_attribute("maps", "method", "espirit");
  out.set_attribute("maps", "kernel", f.kernel);
  out.set_attribute("maps", "threshold", shortest_text(f.threshold));
  out.set_attribute("maps", "crop", shortest_text(f.crop));
  out.set_attribute("maps", "phase", f.phase);
  out.set_attribute("maps", "calibration", cat(region.rows, "x", region.columns));
  out.set_attribute("maps", "kspace", cat(f.kspace, " item ", f.item));
  if (f.compress > 0) {
    out.write("compression", compression.matrix);
    out.write("y", compressed_all);
  }
  if (!f.png.empty()) write_png_view(f.png, rss.reshape({1, 1, h, w}), /*own_range=*/true);
  out.commit();
  if (!f.observation.empty()) {
    // The observation names the maps file, so it comes second; if it cannot be written, no output stays.
    try {
      write_observation(f, obs, compressed_all.defined() ? compressed_all : obs.y);
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(f.output, ec);
      if (!f.png.empty()) std::filesystem::remove(f.png, ec);
      throw;
    }
  }

  const std::vector<float> lambda = maps.eigenvalues.to_vector<float>();
  std::int64_t kept = 0;
  for (float v : lambda) kept += v >= f.crop;
  nlohmann::json report{{"kspace", f.kspace},
                        {"item", f.item},
                        {"coils", coils},
                        {"maps", maps.maps.shape().str()},
                        {"sampling", sampling.cartesian() ? "cartesian" : "non-cartesian"},
                        {"calibration", {region.rows, region.columns}},
                        {"kernels", maps.kernels},
                        {"kept_pixels", double(kept) / double(lambda.size())},
                        {"output", f.output},
                        {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  if (f.compress > 0) report["compression"] = {{"virtual_coils", f.compress}, {"kept_energy", compression.kept_energy}};
  std::cout << report.dump() << "\n";
}

}  // namespace

void add_coils_command(CLI::App& app) {
  auto f = std::make_shared<CoilsFlags>();
  auto* cmd = app.add_subcommand("coils", "Estimate coil sensitivity maps from multi-coil k-space (ESPIRiT)");
  cmd->add_option("--kspace", f->kspace, "Observation file of multi-coil MRI, y (N, K, ...) c64 with its mri/nufft operator spec")->required();
  cmd->add_option("-o,--output", f->output, "Output HDF5 file: maps (K, H, W) c64, eigenvalues (H, W), rss (H, W)")->required();
  cmd->add_option("--item", f->item, "Which observation to calibrate on")->capture_default_str();
  cmd->add_option("--calibration", f->calibration, "Side of the k-space centre to calibrate on (Cartesian: at most; it must be fully sampled)")
      ->capture_default_str();
  cmd->add_option("--kernel", f->kernel, "Side of ESPIRiT's k-space kernel")->capture_default_str();
  cmd->add_option("--threshold", f->threshold, "Keep singular vectors above this fraction of the largest")->capture_default_str();
  cmd->add_option("--crop", f->crop, "Zero the maps where the top eigenvalue is below this (0 keeps all)")->capture_default_str();
  cmd->add_option("--phase", f->phase,
                  "The maps' free per-pixel phase: image (the combined image is real and non-negative, as real-valued priors need) "
                  "or coil0 (coil 0 real)")
      ->check(CLI::IsMember({"image", "coil0"}))
      ->capture_default_str();
  cmd->add_option("--compress", f->compress, "Compress to this many virtual coils first (SVD); writes compression (V, K) and y (N, V, ...)");
  cmd->add_option("--observation", f->observation,
                  "Also write an observation file of the multi-coil problem with the estimated maps (tweedie solve --y FILE)");
  cmd->add_option("--png", f->png, "Also write the root-sum-of-squares image as PNG");
  cmd->add_option("--threads", f->threads, "Host threads (0: all)")->capture_default_str();
  cmd->callback([f] { run_coils(*f); });
}

}  // namespace tweedie::cli

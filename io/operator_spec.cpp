#include "io/operator_spec.h"

#include <charconv>
#include <cmath>
#include <numbers>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <sstream>

#include "io/hdf5_file.h"
#include "kernels/random.h"
#include "runtime/error.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/operators/image_operators.h"
#include "samplers/operators/stacked_operator.h"

namespace tweedie {
namespace {

using samplers::Signal;

// What 'each:' adds to a stage: which observation it builds the operator of, and the datasets already
// read (each holds every observation's entry; reading it once per observation would be quadratic).
struct EachItem {
  std::int64_t index = -1;  // -1: not inside 'each:'
  std::map<std::string, Tensor> datasets;
};

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  if (text.empty()) return {""};
  std::string item;
  std::stringstream in(text);
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!text.empty() && text.back() == sep) out.push_back("");
  return out;
}

bool ends_with(const std::string& s, const char* suffix) {
  std::string_view t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// One stage of a spec: "kind:field:field", fields positional or NAME=VALUE. Accessors check what they
// read and record what was used, so that a misspelt field is an error rather than silently ignored.
class Stage {
 public:
  Stage(std::string text, const SpecOptions& options, std::vector<SpecData>& data, EachItem* each = nullptr)
      : text_(std::move(text)), o_(options), data_(data), each_(each) {
    std::vector<std::string> fields = split(text_, ':');
    if (fields.empty() || fields[0].empty()) fail("the spec is empty; it starts with a kind such as identity, inpaint, sr, blur, mri");
    kind_ = fields[0];
    for (std::size_t i = 1; i < fields.size(); ++i) {
      const std::string& f = fields[i];
      if (f.empty()) fail(cat("field ", i, " is empty (two ':' in a row?)"));
      std::size_t eq = f.find('=');
      if (eq == std::string::npos) {
        args_.push_back(f);
      } else {
        if (eq == 0 || eq + 1 == f.size()) fail(cat("field '", f, "' needs NAME=VALUE"));
        std::string name = f.substr(0, eq);
        if (named_value(name)) fail(cat("field '", name, "' is given twice"));
        named_.push_back({name, f.substr(eq + 1)});
      }
    }
  }

  const std::string& kind() const { return kind_; }
  std::size_t arg_count() const { return args_.size(); }
  const std::string& arg(std::size_t i) const { return args_[i]; }

  [[noreturn]] void fail(const std::string& what) const { throw ArgumentError(cat(o_.flag, " '", text_, "': ", what)); }

  const std::string* named_value(const std::string& name) const {
    for (const auto& [k, v] : named_)
      if (k == name) return &v;
    return nullptr;
  }
  // A named field, also accepted as the positional field at `position` (for "sr:4" = "sr:factor=4").
  std::optional<std::string> field(const std::string& name, int position = -1) {
    used_.push_back(name);
    if (const std::string* v = named_value(name)) return *v;
    if (position >= 0 && std::size_t(position) < args_.size()) {
      positional_used_ = std::max(positional_used_, std::size_t(position) + 1);
      return args_[std::size_t(position)];
    }
    return std::nullopt;
  }
  std::string required(const std::string& name, int position, const char* what) {
    auto v = field(name, position);
    if (!v) fail(cat("missing ", name, "= (", what, ")"));
    return *v;
  }

  double number(const std::string& name, const std::string& value) const {
    double v = 0;
    auto r = std::from_chars(value.data(), value.data() + value.size(), v);
    if (r.ec != std::errc() || r.ptr != value.data() + value.size() || !std::isfinite(v))
      fail(cat(name, "='", value, "' is not a number"));
    return v;
  }
  std::int64_t integer(const std::string& name, const std::string& value) const {
    std::int64_t v = 0;
    auto r = std::from_chars(value.data(), value.data() + value.size(), v);
    if (r.ec != std::errc() || r.ptr != value.data() + value.size()) fail(cat(name, "='", value, "' is not a whole number"));
    return v;
  }
  bool is_number(const std::string& value) const {
    double v = 0;
    auto r = std::from_chars(value.data(), value.data() + value.size(), v);
    return r.ec == std::errc() && r.ptr == value.data() + value.size();
  }
  // The seed a random operator is drawn with: seed= or the run's, plus the observation's index inside
  // 'each:'. base_seed() is the first, what the canonical spec spells out.
  std::uint64_t seed() { return base_seed() + std::uint64_t(each_ && each_->index > 0 ? each_->index : 0); }
  std::uint64_t base_seed() {
    auto v = field("seed");
    if (!v) return o_.seed;
    std::int64_t s = integer("seed", *v);
    if (s < 0) fail(cat("seed=", s, " must be non-negative"));
    return std::uint64_t(s);
  }
  // One of a few words, as a named field or as any positional field not read by position.
  std::string choice(const std::string& name, std::initializer_list<const char*> words, const char* fallback) {
    if (auto v = field(name)) {
      for (const char* w : words)
        if (*v == w) return *v;
      fail(cat(name, "='", *v, "' is not one of ", join(words)));
    }
    for (std::size_t i = 0; i < args_.size(); ++i)
      for (const char* w : words)
        if (args_[i] == w) {
          word_args_.push_back(i);
          return w;
        }
    return fallback;
  }

  // Data named by a field: FILE, FILE#DATASET or #DATASET. Without a dataset name the file's dataset
  // called `preferred` is used, or its only one.
  Tensor data(const std::string& name, const std::string& value, const std::string& preferred, DType dtype) {
    std::size_t hash = value.rfind('#');
    std::string file = hash == std::string::npos ? value : value.substr(0, hash);
    std::string dataset = hash == std::string::npos ? "" : value.substr(hash + 1);
    if (file.empty()) {
      if (o_.base_file.empty()) fail(cat(name, "='", value, "' names a dataset of no file (use FILE#DATASET)"));
      file = o_.base_file;
    }
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) fail(cat(name, ": file '", file, "' does not exist"));
    H5File f = H5File::open(file);
    if (dataset.empty()) {
      std::vector<std::string> all = f.datasets();
      if (f.has(preferred)) {
        dataset = preferred;
      } else if (all.size() == 1) {
        dataset = all[0];
      } else {
        std::string names;
        for (const std::string& d : all) names += (names.empty() ? "" : ", ") + d;
        fail(cat(name, ": ", file, " has no dataset '", preferred, "'; name one as FILE#DATASET (it has: ", names.empty() ? "none" : names, ")"));
      }
    } else if (!f.has(dataset)) {
      fail(cat(name, ": ", file, " has no dataset '", dataset, "'"));
    }
    data_.push_back({name, file, dataset});
    if (!each_ || each_->index < 0) return f.read(dataset, dtype);
    // Inside 'each:': this observation's entry of a dataset with one per observation.
    const std::string key = cat(file, "#", dataset, dtype == DType::c64 ? " c64" : " f32");
    auto it = each_->datasets.find(key);
    if (it == each_->datasets.end()) it = each_->datasets.emplace(key, f.read(dataset, dtype)).first;
    const Tensor& all = it->second;
    if (all.rank() < 2 || all.dim(0) != o_.items)
      fail(cat(name, ": ", file, "#", dataset, " is ", all.shape().str(), "; inside 'each:' every dataset holds one entry per observation along ",
               "its first axis (", o_.items, ")"));
    return all.slice(each_->index, 1).reshape(Shape(all.shape().dims().subspan(1))).clone();
  }

  // FILE#DATASET of the data read last, with the dataset name resolved.
  std::string last_reference() const { return data_.back().reference(); }

  // Every field must have been read: an unknown or misspelt one is an error that lists the known ones.
  void finish() const {
    for (const auto& [k, v] : named_) {
      bool known = false;
      for (const std::string& u : used_) known = known || u == k;
      if (!known) {
        std::string list;
        for (const std::string& u : used_) list += (list.empty() ? "" : ", ") + u;
        fail(cat("unknown field '", k, "' for ", kind_, list.empty() ? std::string(" (it takes none)") : cat(" (it takes: ", list, ")")));
      }
    }
    for (std::size_t i = positional_used_; i < args_.size(); ++i) {
      bool word = false;
      for (std::size_t w : word_args_) word = word || w == i;
      if (!word) fail(cat("unexpected field '", args_[i], "' for ", kind_));
    }
  }

  static std::string join(std::initializer_list<const char*> words) {
    std::string s;
    for (const char* w : words) s += (s.empty() ? "" : ", ") + std::string(w);
    return s;
  }

 private:
  std::string text_, kind_;
  const SpecOptions& o_;
  std::vector<SpecData>& data_;
  EachItem* each_;
  std::vector<std::string> args_;
  std::vector<std::pair<std::string, std::string>> named_;
  std::vector<std::string> used_;
  std::vector<std::size_t> word_args_;
  std::size_t positional_used_ = 0;
};

std::int64_t positive(Stage& s, const std::string& name, const std::string& value) {
  std::int64_t v = s.integer(name, value);
  if (v < 1) s.fail(cat(name, "=", v, " must be at least 1"));
  return v;
}

void require_image(Stage& s, const Signal& x) {
  if (x.shape.rank() != 3) s.fail(cat(s.kind(), " acts on images (C, H, W), but x items are ", x.shape.str()));
}

// ---- operators --------------------------------------------------------------------------------------

std::unique_ptr<samplers::Operator> inpaint(Stage& s, const Signal& x, Device device) {
  require_image(s, x);
  if (auto ref = s.field("mask")) {
    Tensor m = s.data("mask", *ref, "mask", DType::f32);
    return samplers::make_mask(x, m, cat("inpaint:mask=", s.last_reference()), device);
  }
  if (auto box = s.field("box")) {
    std::vector<std::string> parts = split(*box, ',');
    if (parts.size() != 4) s.fail(cat("box='", *box, "' needs TOP,LEFT,HEIGHT,WIDTH"));
    std::int64_t v[4];
    for (int i = 0; i < 4; ++i) v[i] = s.integer("box", parts[std::size_t(i)]);
    Tensor m = samplers::box_mask(x.shape, v[0], v[1], v[2], v[3]);
    return samplers::make_mask(x, m, cat("inpaint:box=", v[0], ",", v[1], ",", v[2], ",", v[3]), device);
  }
  std::string p = s.required("p", 0, "the probability of keeping a pixel; or box=T,L,H,W or mask=FILE");
  double keep = s.number("p", p);
  if (!(keep > 0 && keep <= 1)) s.fail(cat("p=", p, " must be in (0, 1]: the probability of keeping a pixel"));
  std::string channels = s.choice("channels", {"shared", "each"}, "shared");
  std::uint64_t seed = s.seed();
  Tensor m = samplers::random_pixel_mask(x.shape, keep, channels == "each", seed);
  return samplers::make_mask(x, m, cat("inpaint:p=", shortest_text(keep), ":channels=", channels, ":seed=", seed), device);
}

std::unique_ptr<samplers::Operator> downsample(Stage& s, const Signal& x, Device device) {
  require_image(s, x);
  std::int64_t factor = positive(s, "factor", s.required("factor", 0, "the downsampling factor, as in sr:4"));
  std::string kind = s.choice("method", {"bicubic", "avg"}, "bicubic");
  return samplers::make_downsample(x, factor, kind == "avg" ? samplers::DownsampleKind::average : samplers::DownsampleKind::bicubic, device);
}

std::unique_ptr<samplers::Operator> blur(Stage& s, const Signal& x, Device device) {
  require_image(s, x);
  std::string boundary = s.choice("boundary", {"circular", "reflect"}, "circular");
  auto b = boundary == "circular" ? samplers::BlurBoundary::circular : samplers::BlurBoundary::reflect;
  if (auto ref = s.field("kernel")) {
    Tensor k = s.data("kernel", *ref, "kernel", DType::f32);
    if (k.rank() == 3 && k.dim(0) == 1) k = k.reshape({k.dim(1), k.dim(2)});
    if (k.rank() != 2) s.fail(cat("kernel: ", s.last_reference(), " is ", k.shape().str(), "; a blur kernel is (kh, kw)"));
    return samplers::make_blur(x, k, b, cat("blur:kernel=", s.last_reference(), ":boundary=", boundary), device);
  }
  std::string shape = s.required("shape", 0, "gauss or motion, as in blur:gauss:61:3; or kernel=FILE");
  std::int64_t size = positive(s, "size", s.required("size", 1, "the kernel's size in pixels, odd"));
  // Checked before the kernel is made: a size from a typo must not allocate size^2 values first.
  if (size > x.shape[1] || size > x.shape[2])
    s.fail(cat("size=", size, " is larger than the ", x.shape[1], " x ", x.shape[2], " images"));
  if (shape == "gauss") {
    double sigma = s.number("sigma", s.required("sigma", 2, "the Gaussian's standard deviation in pixels"));
    if (!(sigma > 0)) s.fail(cat("sigma=", sigma, " must be positive"));
    return samplers::make_blur(x, samplers::gaussian_kernel(size, sigma), b,
                               cat("blur:gauss:", size, ":", shortest_text(sigma), ":boundary=", boundary), device);
  }
  if (shape == "motion") {
    double intensity = s.number("intensity", s.required("intensity", 2, "how far the camera wanders, in [0, 1]"));
    if (!(intensity >= 0 && intensity <= 1)) s.fail(cat("intensity=", intensity, " must be in [0, 1]"));
    std::uint64_t seed = s.seed();
    return samplers::make_blur(x, samplers::motion_kernel(size, intensity, seed), b,
                               cat("blur:motion:", size, ":", shortest_text(intensity), ":seed=", seed, ":boundary=", boundary), device);
  }
  s.fail(cat("unknown blur kernel '", shape, "' (gauss, motion, or kernel=FILE)"));
}

// M x D with rows drawn uniformly on the unit sphere (normalised Gaussians, Philox from the seed): the
// random projections of the manifold experiments of learning from observations.
Tensor random_projection(std::int64_t m, std::int64_t d, std::uint64_t seed) {
  std::vector<float> a(std::size_t(m * d));
  for (std::int64_t r = 0; r < m; ++r) {
    double norm = 0;
    for (std::int64_t c = 0; c < d; ++c) {
      float z = normal_at(seed, 0, std::uint64_t(r * d + c));
      a[std::size_t(r * d + c)] = z;
      norm += double(z) * z;
    }
    for (std::int64_t c = 0; c < d; ++c) a[std::size_t(r * d + c)] = float(a[std::size_t(r * d + c)] / std::sqrt(std::max(norm, 1e-30)));
  }
  return Tensor::from_host(std::span<const float>(a), {m, d});
}

std::unique_ptr<samplers::Operator> matrix(Stage& s, const Signal& x, Device device) {
  if (auto rows = s.field("random")) {
    std::int64_t m = positive(s, "random", *rows);
    std::uint64_t base = s.base_seed(), seed = s.seed();
    return samplers::make_matrix(x, random_projection(m, x.shape.numel(), seed), cat("matrix:random=", m, ":seed=", base), device);
  }
  std::string ref = s.required("a", 0, "the matrix, as FILE or FILE#DATASET; or random=M for M random unit rows");
  Tensor a = s.data("a", ref, "A", DType::f32);
  if (a.rank() != 2) s.fail(cat("a: the matrix is ", a.shape().str(), "; it must be (M, D)"));
  return samplers::make_matrix(x, a, cat("matrix:a=", s.last_reference()), device);
}

// A k-space mask of (H, W), also accepted as one row (W) of column flags or (1, H, W).
Tensor kspace_mask(Stage& s, const std::string& ref, std::int64_t h, std::int64_t w) {
  Tensor m = s.data("mask", ref, "mask", DType::f32);
  if (m.rank() == 3 && m.dim(0) == 1) m = m.reshape({m.dim(1), m.dim(2)});
  if (m.rank() == 1 && m.dim(0) == w) {
    std::vector<float> row = m.to_vector<float>(), full;
    for (std::int64_t r = 0; r < h; ++r) full.insert(full.end(), row.begin(), row.end());
    return Tensor::from_host(std::span<const float>(full), {h, w});
  }
  if (m.rank() != 2 || m.dim(0) != h || m.dim(1) != w)
    s.fail(cat("mask is ", m.shape().str(), " but the images are ", h, " x ", w, "; a k-space mask is (H, W) or (W)"));
  return m;
}

// Where an mri stage samples k-space, with the canonical text of that part of the spec.
struct Sampling {
  KspaceSampling where;
  std::string text;
};

// mri:traj=radial|spiral|FILE: non-Cartesian k-space by the NUFFT. The trajectory's size comes from
// spokes= / interleaves= or from R=, the acceleration against a fully sampled one (pi N / 2 spokes,
// N / (2 turns) interleaves, N = max(H, W)).
Sampling trajectory(Stage& s, const Signal& x, const std::string& traj) {
  const std::int64_t h = x.shape[1], w = x.shape[2], n = std::max(h, w);
  NufftOptions o;
  if (auto v = s.field("tol")) o.tolerance = s.number("tol", *v);
  if (auto v = s.field("oversampling")) o.oversampling = s.number("oversampling", *v);
  auto count = [&](const char* name, std::int64_t fallback) {
    auto v = s.field(name);
    const std::int64_t c = v ? s.integer(name, *v) : fallback;
    if (c < 1) s.fail(cat(name, "=", c, " must be at least 1"));
    return c;
  };
  auto from_acceleration = [&](const char* name, double full) {
    if (s.named_value(name)) return count(name, 1);
    auto r = s.field("R");
    if (!r) s.fail(cat("give ", name, "= or R= (the acceleration against ", std::llround(std::ceil(full)), " for full sampling)"));
    const double accel = s.number("R", *r);
    if (!(accel >= 1)) s.fail(cat("R=", accel, " must be at least 1"));
    return std::max<std::int64_t>(1, std::int64_t(std::ceil(full / accel)));
  };
  std::vector<double> k;
  std::string text;
  if (traj == "radial") {
    const std::int64_t readout = count("readout", 2 * n);
    const std::string order = s.choice("order", {"golden", "uniform"}, "golden");
    const std::int64_t spokes = from_acceleration("spokes", std::numbers::pi * double(n) / 2);
    k = samplers::radial_trajectory(h, w, spokes, readout, order == "golden");
    text = cat("mri:traj=radial:spokes=", spokes, ":readout=", readout, ":order=", order);
  } else if (traj == "spiral") {
    double turns = std::max(1.0, double(n) / 16);
    if (auto v = s.field("turns")) turns = s.number("turns", *v);
    if (!(turns > 0)) s.fail(cat("turns=", turns, " must be positive"));
    const std::int64_t samples = count("samples", std::int64_t(std::ceil(std::numbers::pi * double(n) * turns)));
    const std::int64_t interleaves = from_acceleration("interleaves", double(n) / (2 * turns));
    k = samplers::spiral_trajectory(h, w, interleaves, samples, turns);
    text = cat("mri:traj=spiral:interleaves=", interleaves, ":samples=", samples, ":turns=", shortest_text(turns));
  } else {
    Tensor c = s.data("traj", traj, "traj", DType::f32);
    if (c.rank() < 2 || c.dim(-1) != 2)
      s.fail(cat("traj: ", s.last_reference(), " is ", c.shape().str(), "; a trajectory is (..., 2) of (k_y, k_x) in cycles per field of view"));
    const std::vector<float> v = c.to_vector<float>();
    k.assign(v.begin(), v.end());
    text = cat("mri:traj=", s.last_reference());
  }
  return {{Tensor(), std::move(k), o}, cat(text, ":tol=", shortest_text(o.tolerance), ":oversampling=", shortest_text(o.oversampling))};
}

// A volume's k-space mask: variable-density points over the phase-encoding plane (D, H), every one a
// fully sampled readout line along W, as 3-D Cartesian scans acquire.
Tensor along_readout(const Tensor& plane, std::int64_t w) {
  const std::vector<float> m = plane.to_vector<float>();
  std::vector<float> full;
  full.reserve(m.size() * std::size_t(w));
  for (float v : m) full.insert(full.end(), std::size_t(w), v);
  return Tensor::from_host(std::span<const float>(full), {plane.dim(0), plane.dim(1), w});
}

// mri:mask=FILE, or mri:R=..:pattern=..:centre=..: a Cartesian mask, (H, W) for images and (D, H, W)
// for volumes (C, D, H, W).
Sampling cartesian_mask(Stage& s, const Signal& x) {
  const bool volume = x.shape.rank() == 4;
  const std::int64_t d = volume ? x.shape[1] : 1, h = x.shape[volume ? 2 : 1], w = x.shape[volume ? 3 : 2];
  if (auto ref = s.field("mask")) {
    if (!volume) {
      Tensor m = kspace_mask(s, *ref, h, w);
      return {{m, {}, {}}, cat("mri:mask=", s.last_reference())};
    }
    Tensor m = s.data("mask", *ref, "mask", DType::f32);
    if (m.rank() == 2 && m.dim(0) == d && m.dim(1) == h) m = along_readout(m, w);
    if (m.rank() != 3 || m.dim(0) != d || m.dim(1) != h || m.dim(2) != w)
      s.fail(cat("mask is ", m.shape().str(), " but the volumes are ", d, " x ", h, " x ", w, "; a k-space mask is (D, H, W), or (D, H) of readout lines"));
    return {{m, {}, {}}, cat("mri:mask=", s.last_reference())};
  }
  double r = s.number("R", s.required("R", -1, "the acceleration, as in mri:R=4; or mask=FILE"));
  if (!(r >= 1)) s.fail(cat("R=", r, " must be at least 1"));
  std::string pattern = volume ? s.choice("pattern", {"poisson", "gaussian"}, "poisson")
                               : s.choice("pattern", {"random", "equispaced", "poisson", "gaussian"}, "random");
  // A volume's pattern lives on its (D, H) phase-encoding plane.
  const std::int64_t ph = volume ? d : h, pw = volume ? h : w;
  bool columns = pattern == "random" || pattern == "equispaced";
  std::int64_t default_centre = columns ? std::max<std::int64_t>(1, std::int64_t(std::lround(0.08 * double(pw)))) : std::max<std::int64_t>(1, std::min(ph, pw) / 8);
  std::int64_t centre = default_centre;
  if (auto c = s.field("centre")) centre = s.integer("centre", *c);
  if (centre < 0 || centre > (columns ? pw : std::min(ph, pw))) s.fail(cat("centre=", centre, " does not fit ", ph, " x ", pw, " k-space"));
  std::uint64_t seed = pattern == "equispaced" ? 0 : s.seed();
  Tensor m = pattern == "random"       ? samplers::mask_random_columns(ph, pw, r, centre, seed)
             : pattern == "equispaced" ? samplers::mask_equispaced_columns(ph, pw, r, centre)
             : pattern == "poisson"    ? samplers::mask_poisson_disc(ph, pw, r, centre, seed)
                                       : samplers::mask_gaussian(ph, pw, r, centre, seed);
  if (volume) m = along_readout(m, w);
  std::string text = cat("mri:R=", shortest_text(r), ":pattern=", pattern, ":centre=", centre);
  if (pattern != "equispaced") text += cat(":seed=", seed);
  return {{m, {}, {}}, text};
}

// The sampling of an mri stage (nufft: is mri: with a trajectory, which it must name).
Sampling mri_sampling(Stage& s, const Signal& x) {
  if (x.shape.rank() == 4) {  // a volume (C, D, H, W): Cartesian only
    if (s.kind() == "nufft" || s.named_value("traj"))
      s.fail(cat("non-Cartesian MRI takes images (C, H, W), but x items are ", x.shape.str(), " (3-D trajectories are not built)"));
    return cartesian_mask(s, x);
  }
  require_image(s, x);
  if (s.kind() == "nufft") return trajectory(s, x, s.required("traj", -1, "the trajectory: radial, spiral or FILE#DATASET of (k_y, k_x) pairs"));
  if (auto traj = s.field("traj")) return trajectory(s, x, *traj);
  return cartesian_mask(s, x);
}

std::unique_ptr<samplers::Operator> mri(Stage& s, const Signal& x, Device device) {
  Tensor maps;
  std::string coils_text;
  if (auto ref = s.field("coils")) {
    maps = s.data("coils", *ref, "coils", DType::c64);
    coils_text = cat(":coils=", s.last_reference());
  }
  Sampling sampling = mri_sampling(s, x);
  if (sampling.where.cartesian()) return samplers::make_mri(x, sampling.where.mask, maps, sampling.text + coils_text, device);
  return samplers::make_nufft_mri(x, sampling.where.coords, maps, sampling.where.nufft, sampling.text + coils_text, device);
}

std::unique_ptr<samplers::Operator> phase(Stage& s, const Signal& x, Device device) {
  require_image(s, x);
  std::int64_t pad = x.shape[2] / 4;  // an oversampling of 1.5 per side, as the DPS experiments use
  if (auto p = s.field("pad", 0)) pad = s.integer("pad", *p);
  if (pad < 0) s.fail(cat("pad=", pad, " must be non-negative"));
  return samplers::make_phase_retrieval(x, pad, device);
}

std::unique_ptr<samplers::Operator> build_stage(Stage& s, const Signal& x, Device device) {
  const std::string& k = s.kind();
  std::unique_ptr<samplers::Operator> op;
  if (k == "identity") op = samplers::make_identity(x);
  else if (k == "inpaint") op = inpaint(s, x, device);
  else if (k == "sr") op = downsample(s, x, device);
  else if (k == "blur") op = blur(s, x, device);
  else if (k == "matrix") op = matrix(s, x, device);
  else if (k == "mri" || k == "nufft") op = mri(s, x, device);
  else if (k == "phase") op = phase(s, x, device);
  else s.fail(cat("unknown operator '", k, "' (identity, inpaint, sr, blur, matrix, mri, nufft, phase)"));
  s.finish();
  return op;
}

// A noise parameter per observed entry: a real tensor of y's item shape.
Tensor per_entry(Stage& s, const std::string& name, const std::string& ref, const Signal& y) {
  Tensor t = s.data(name, ref, name, DType::f32);
  if (!(t.shape() == y.shape))
    s.fail(cat(name, ": ", s.last_reference(), " is ", t.shape().str(), " but one observation is ", y.shape.str()));
  return t;
}

// ---- JSON and HDF5 descriptions ---------------------------------------------------------------------

std::string value_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : ",") + value_text(e);
    return s;
  }
  return v.dump();
}

std::string stage_from_json(const nlohmann::json& j, const std::string& flag) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string())
    throw ArgumentError(cat(flag, ": a JSON description is an object with a \"kind\" (or an array of them), not ", j.dump()));
  std::string text = j["kind"].get<std::string>();
  if (j.contains("args"))
    for (const auto& a : j["args"]) text += ":" + value_text(a);
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "kind" && it.key() != "args") text += ":" + it.key() + "=" + value_text(it.value());
  return text;
}

}  // namespace

std::string resolve_spec_text(const std::string& spec, const std::string& attribute, SpecOptions& options) {
  std::error_code ec;
  bool is_file = std::filesystem::is_regular_file(spec, ec);
  if (is_file && (ends_with(spec, ".h5") || ends_with(spec, ".hdf5"))) {
    H5File f = H5File::open(spec);
    if (!f.has_attribute("", attribute))
      throw ArgumentError(cat(options.flag, ": ", spec, " has no root attribute '", attribute, "' holding a spec"));
    options.base_file = spec;
    return f.string_attribute("", attribute);
  }
  std::string json_text;
  if (is_file && ends_with(spec, ".json")) {
    std::ifstream in(spec);
    std::stringstream ss;
    ss << in.rdbuf();
    json_text = ss.str();
  } else if (!spec.empty() && (spec[0] == '{' || spec[0] == '[')) {
    json_text = spec;
  } else {
    return spec;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw ArgumentError(cat(options.flag, ": ", is_file ? spec : std::string("inline JSON"), " is not valid JSON: ", e.what()));
  }
  if (j.is_array()) {
    std::string text;
    for (const auto& stage : j) text += (text.empty() ? "" : "|") + stage_from_json(stage, options.flag);
    return text;
  }
  return stage_from_json(j, options.flag);
}

namespace {

BuiltOperator build_pipeline(const std::string& text, const Signal& x, Device device, const SpecOptions& options, EachItem* each) {
  BuiltOperator out;
  Signal signal = x;
  for (const std::string& stage_text : split(text, '|')) {
    Stage stage(stage_text, options, out.data, each);
    std::shared_ptr<samplers::Operator> op = build_stage(stage, signal, device);
    signal = op->output();
    out.op = out.op ? std::shared_ptr<samplers::Operator>(samplers::compose(op, out.op)) : op;
  }
  return out;
}

}  // namespace

BuiltOperator build_operator(const std::string& spec, const Signal& x, Device device, const SpecOptions& given) {
  SpecOptions options = given;
  std::string text = resolve_spec_text(spec, "operator", options);
  if (text.rfind("each:", 0) != 0) return build_pipeline(text, x, device, options, nullptr);
  const std::string inner = text.substr(5);
  if (inner.rfind("each:", 0) == 0) throw ArgumentError(cat(options.flag, " '", text, "': 'each:' twice"));
  if (options.items < 1)
    throw ArgumentError(cat(options.flag, " '", text, "': 'each:' builds one operator per observation, and their number is not known here ",
                            "(give the observations, or use a shared operator)"));
  EachItem each;
  std::vector<std::shared_ptr<const samplers::Operator>> items;
  BuiltOperator first;
  for (std::int64_t i = 0; i < options.items; ++i) {
    each.index = i;
    BuiltOperator b = build_pipeline(inner, x, device, options, &each);
    if (i == 0) first = b;
    items.push_back(b.op);
  }
  // Item 0 is drawn with the base seed and reads entry 0: its spec is the canonical one.
  first.op = std::make_shared<samplers::StackedOperator>(std::move(items), "each:" + first.op->describe());
  return first;
}

KspaceSampling kspace_sampling(const std::string& spec, const Signal& x, const SpecOptions& given) {
  SpecOptions options = given;
  const std::string text = resolve_spec_text(spec, "operator", options);
  if (text.find('|') != std::string::npos || text.rfind("each:", 0) == 0)
    throw ArgumentError(cat(options.flag, " '", text, "': k-space sampling is read from a single mri or nufft operator, not a pipeline or 'each:'"));
  std::vector<SpecData> data;
  Stage s(text, options, data);
  if (s.kind() != "mri" && s.kind() != "nufft") s.fail(cat("the operator is '", s.kind(), "', not MRI (mri or nufft), so it samples no k-space"));
  s.field("coils");  // the maps do not change where k-space is sampled
  Sampling sampling = mri_sampling(s, x);
  s.finish();
  return sampling.where;
}

namespace {

// gaussian:sigma=S|FILE (independent entries), gaussian:cov=FILE (a full Sigma_y) or
// gaussian:sigma=S|FILE:factor=FILE (diag(sigma^2) + F^T F).
std::unique_ptr<samplers::NoiseModel> gaussian_noise(Stage& s, const Signal& y, Device device) {
  auto correlated_over_real = [&](const char* field) {
    if (y.dtype == DType::c64)
      s.fail(cat(field, "= is a covariance over real entries, but the operator's output ", y.str(),
                 " is complex; whiten complex (multi-coil) data with its noise covariance first"));
  };
  if (auto cov = s.field("cov")) {
    if (s.named_value("sigma") || s.arg_count() > 0) s.fail("cov= is the whole noise covariance; sigma= does not go with it");
    correlated_over_real("cov");
    Tensor c = s.data("cov", *cov, "cov", DType::f32);
    return samplers::make_full_covariance_noise(c, y.shape, cat("gaussian:cov=", s.last_reference()));
  }
  const std::string sigma = s.required("sigma", 0, "the noise standard deviation, or a FILE of one per entry");
  const bool scalar = s.is_number(sigma);
  const double value = scalar ? s.number("sigma", sigma) : 0;
  Tensor per = scalar ? Tensor() : per_entry(s, "sigma", sigma, y);
  const std::string sigma_text = scalar ? shortest_text(value) : s.last_reference();
  if (auto factor = s.field("factor")) {
    correlated_over_real("factor");
    if (scalar) per = Tensor::from_host({float(value)}, {1});
    Tensor f = s.data("factor", *factor, "factor", DType::f32);
    return samplers::make_low_rank_covariance_noise(per, f, y.shape, cat("gaussian:sigma=", sigma_text, ":factor=", s.last_reference()));
  }
  if (scalar) return samplers::make_gaussian_noise(value);
  return samplers::make_gaussian_noise(per, cat("gaussian:sigma=", sigma_text), device);
}

}  // namespace

BuiltNoise build_noise(const std::string& spec, const Signal& y, Device device, const SpecOptions& given) {
  SpecOptions options = given;
  if (options.flag == "--operator") options.flag = "--noise";
  std::string text = resolve_spec_text(spec, "noise", options);
  BuiltNoise out;
  Stage s(text, options, out.data);
  const std::string& k = s.kind();
  if (k == "none") {
    s.finish();
    return out;
  }
  if (k == "gaussian") {
    out.noise = gaussian_noise(s, y, device);
  } else if (k == "poisson") {
    double scale = 1;
    if (auto v = s.field("scale", 0)) scale = s.number("scale", *v);
    std::string link = s.choice("link", {"exp", "softplus"}, "exp");
    out.noise = samplers::make_poisson_noise(scale, link == "exp" ? samplers::Link::exp : samplers::Link::softplus);
  } else if (k == "binomial") {
    std::string n = s.required("n", 0, "the number of trials, or a FILE of one per entry");
    double scale = 1;
    if (auto v = s.field("scale", 1)) scale = s.number("scale", *v);
    if (s.is_number(n)) {
      out.noise = samplers::make_binomial_noise(positive(s, "n", n), scale);
    } else {
      Tensor t = per_entry(s, "n", n, y);
      out.noise = samplers::make_binomial_noise(t, scale, cat("binomial:n=", s.last_reference(), ":scale=", shortest_text(scale)), device);
    }
  } else {
    s.fail(cat("unknown noise model '", k, "' (gaussian, poisson, binomial, none)"));
  }
  s.finish();
  return out;
}

}  // namespace tweedie

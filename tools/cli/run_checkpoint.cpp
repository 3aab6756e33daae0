#include "cli/run_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "cli/commands.h"
#include "io/hdf5_file.h"
#include "runtime/error.h"

namespace tweedie::cli {
namespace {

constexpr const char* kFormat = "tweedie-run-checkpoint";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "\n  saved: steps=50\n  now:   steps=40" for each line in one text and not the other.
std::string differences(const std::string& saved, const std::string& now) {
  std::vector<std::string> a = lines_of(saved), b = lines_of(now);
  std::string out;
  for (const auto& line : a)
    if (std::find(b.begin(), b.end(), line) == b.end()) out += "\n  saved: " + line;
  for (const auto& line : b)
    if (std::find(a.begin(), a.end(), line) == a.end()) out += "\n  now:   " + line;
  return out;
}

}  // namespace

std::string run_settings(const CLI::App& command, const std::vector<std::string>& input_files) {
  static const std::vector<std::string> where_and_how{"output", "png", "checkpoint", "checkpoint-every", "resume",
                                                       "threads", "device", "quiet", "truth"};
  std::string settings;
  std::istringstream lines(command.config_to_str(/*default_also=*/true, /*write_description=*/false));
  for (std::string line; std::getline(lines, line);) {
    std::string key = line.substr(0, line.find('='));
    while (!key.empty() && key.back() == ' ') key.pop_back();
    if (std::find(where_and_how.begin(), where_and_how.end(), key) == where_and_how.end()) settings += line + "\n";
  }
  for (const std::string& file : input_files) {
    if (file.empty()) continue;
    std::error_code ec;
    auto bytes = std::filesystem::file_size(file, ec);
    settings += cat("bytes of ", file, "=", ec ? std::string("?") : cat(bytes), "\n");
  }
  return settings;
}

void add_checkpoint_flags(CLI::App* command, CheckpointFlags& f) {
  command->add_option("--checkpoint", f.path, "Save the run's progress to FILE (atomically) to survive being killed");
  command->add_option("--checkpoint-every", f.every, "Sampler steps between checkpoints (and one after every batch)")
      ->capture_default_str();
  command->add_flag("--resume", f.resume, "Continue from --checkpoint FILE if it exists (same settings); start afresh if not");
}

RunCheckpoint::RunCheckpoint(const CheckpointFlags& flags, const std::string& command, std::string settings, Tensor& all,
                             const samplers::Denoiser* counters)
    : flags_(flags), command_(command), settings_(std::move(settings)), all_(all), counters_(counters) {
  if (flags_.path.empty()) {
    if (flags_.resume) throw ArgumentError("--resume needs --checkpoint FILE");
    return;
  }
  if (flags_.every < 1) throw ArgumentError(cat("--checkpoint-every ", flags_.every, ": need at least 1 step"));
  std::error_code ec;
  const bool exists = std::filesystem::exists(flags_.path, ec);
  if (exists && !flags_.resume)
    throw ArgumentError(cat("--checkpoint ", flags_.path, " exists: give --resume to continue from it, or remove it"));
  if (!exists) return;

  H5File f = H5File::open(flags_.path);
  if (!f.has_attribute("", "format") || f.string_attribute("", "format") != kFormat)
    throw IoError(cat(flags_.path, ": not a tweedie run checkpoint (root attribute format = \"", kFormat, "\")"));
  if (f.string_attribute("", "command") != command_)
    throw ArgumentError(cat("--resume: ", flags_.path, " is a checkpoint of `tweedie ", f.string_attribute("", "command"),
                            "`, not of `tweedie ", command_, "`"));
  if (std::string saved = f.string_attribute("", "settings"); saved != settings_)
    throw ArgumentError(cat("--resume: ", flags_.path, " was made by a run with other settings:", differences(saved, settings_)));
  finished_ = std::int64_t(f.number_attribute("", "finished_rows"));
  if (finished_ < 0 || finished_ > all_.dim(0)) throw IoError(cat(flags_.path, ": finished_rows ", finished_, " of ", all_.dim(0)));
  if (finished_ > 0) {
    Tensor rows = f.read("finished");
    if (!(rows.shape() == all_.slice(0, finished_).shape()))
      throw IoError(cat(flags_.path, ": dataset 'finished' is ", rows.shape().str(), ", expected ", all_.slice(0, finished_).shape().str()));
    Tensor dst = all_.slice(0, finished_);
    dst.copy_from(rows.to(all_.device()));
  }
  if (f.has("x")) {
    samplers::SamplerState s;
    s.steps_done = int(f.number_attribute("x", "steps_done"));
    s.next_noise = std::uint64_t(f.number_attribute("x", "next_noise"));
    s.x = f.read("x", all_.device());
    // Multistep samplers (dpm++2m, eab) carry their latest data predictions, newest first.
    for (int i = 0; f.has(cat("x0_history_", i)); ++i) {
      Tensor h = f.read(cat("x0_history_", i), all_.device());
      if (!(h.shape() == s.x.shape()))
        throw IoError(cat(flags_.path, ": dataset 'x0_history_", i, "' is ", h.shape().str(), ", expected x's ", s.x.shape().str()));
      s.x0_history.push_back(std::move(h));
    }
    loaded_ = std::move(s);
    loaded_first_ = std::int64_t(f.number_attribute("x", "first_row"));
  }
  if (counters_) {
    counters_->forward_count = std::int64_t(f.number_attribute("", "forward_count"));
    counters_->jvp_count = std::int64_t(f.number_attribute("", "jvp_count"));
    counters_->vjp_count = std::int64_t(f.number_attribute("", "vjp_count"));
  }
  std::fprintf(stderr, "tweedie %s: resuming from %s: %lld of %lld rows finished%s\n", command_.c_str(), flags_.path.c_str(),
               (long long)finished_, (long long)all_.dim(0),
               loaded_ ? cat(", the next batch at step ", loaded_->steps_done).c_str() : "");
}

RunCheckpoint::~RunCheckpoint() = default;

samplers::Resumable RunCheckpoint::batch(Context& ctx, std::int64_t first, std::int64_t count) {
  samplers::Resumable r;
  if (loaded_ && loaded_first_ == first && loaded_->x.dim(0) == count) r.resume = &*loaded_;
  r.after_step = [this, &ctx, first, count](const samplers::SamplerState& s) {
    const bool due = !flags_.path.empty() && s.steps_done % flags_.every == 0;
    if (due || stop_.requested()) {
      ctx.synchronize();
      save(&s, first);
    }
    if (stop_.requested())
      stop(stop_.requested(), cat("rows ", first, "-", first + count - 1, " after step ", s.steps_done));
  };
  return r;
}

void RunCheckpoint::batch_done(std::int64_t first, std::int64_t count) {
  finished_ = first + count;
  loaded_.reset();
  if (!flags_.path.empty()) save(nullptr, first + count);
  if (stop_.requested()) stop(stop_.requested(), cat("row ", finished_, " of ", all_.dim(0)));
}

void RunCheckpoint::save(const samplers::SamplerState* running, std::int64_t first) {
  if (flags_.path.empty()) return;
  H5File f = H5File::create(flags_.path);
  f.set_attribute("", "format", std::string(kFormat));
  f.set_attribute("", "command", command_);
  f.set_attribute("", "settings", settings_);
  f.set_attribute("", "finished_rows", finished_);
  if (counters_) {
    f.set_attribute("", "forward_count", counters_->forward_count);
    f.set_attribute("", "jvp_count", counters_->jvp_count);
    f.set_attribute("", "vjp_count", counters_->vjp_count);
  }
  if (finished_ > 0) f.write("finished", all_.slice(0, finished_));
  if (running) {
    f.write("x", running->x);
    f.set_attribute("x", "steps_done", std::int64_t(running->steps_done));
    f.set_attribute("x", "next_noise", std::int64_t(running->next_noise));
    f.set_attribute("x", "first_row", first);
    for (std::size_t i = 0; i < running->x0_history.size(); ++i) f.write(cat("x0_history_", i), running->x0_history[i]);
  }
  f.commit();
}

void RunCheckpoint::finished() {
  if (flags_.path.empty()) return;
  std::error_code ec;
  std::filesystem::remove(flags_.path, ec);
}

void RunCheckpoint::stop(int signal, const std::string& where) {
  std::string kept = flags_.path.empty()
                         ? std::string("nothing was kept (no --checkpoint)")
                         : cat("the checkpoint ", flags_.path, " keeps the progress (continue with the same command and --resume)");
  std::fprintf(stderr, "\ntweedie %s: %s at %s; no output file was written; %s\n", command_.c_str(), stop_word(signal), where.c_str(),
               kept.c_str());
  throw ExitStatus{128 + signal};
}

}  // namespace tweedie::cli

// Replays the committed corpora (tools/fuzz/corpus/<target>/) through every fuzz target, in ordinary
// builds without clang or libFuzzer: ctest runs it under gcc and, in the asan preset, under ASan and
// UBSan, so an input that once crashed a parser stays fixed.
//
//   fuzz_replay [CORPUS_DIR] [TARGET...]      every file of each target's folder (default: all targets)
//   fuzz_replay --file TARGET FILE...         just these files, to reproduce a finding without clang
//
// Fails when an input escapes its target with an exception that is not a tweedie::Error (a crash
// ends the process anyway), and when a target's folder holds no inputs: an empty replay tests nothing.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "tools/fuzz/fuzz_target.h"

TWEEDIE_FUZZ_TARGET(pickle)(const std::uint8_t*, std::size_t);
TWEEDIE_FUZZ_TARGET(zip)(const std::uint8_t*, std::size_t);
TWEEDIE_FUZZ_TARGET(numpy)(const std::uint8_t*, std::size_t);
TWEEDIE_FUZZ_TARGET(safetensors)(const std::uint8_t*, std::size_t);
TWEEDIE_FUZZ_TARGET(torch_checkpoint)(const std::uint8_t*, std::size_t);
TWEEDIE_FUZZ_TARGET(spec)(const std::uint8_t*, std::size_t);
TWEEDIE_FUZZ_TARGET(hdf5)(const std::uint8_t*, std::size_t);

namespace {

namespace fs = std::filesystem;

struct Target {
  const char* name;
  int (*run)(const std::uint8_t*, std::size_t);
};
constexpr Target kTargets[] = {
    {"pickle", tweedie_fuzz_pickle},           {"zip", tweedie_fuzz_zip},
    {"numpy", tweedie_fuzz_numpy},             {"safetensors", tweedie_fuzz_safetensors},
    {"torch_checkpoint", tweedie_fuzz_torch_checkpoint}, {"spec", tweedie_fuzz_spec},
    {"hdf5", tweedie_fuzz_hdf5},
};

const Target* find_target(const std::string& name) {
  for (const Target& t : kTargets)
    if (name == t.name) return &t;
  std::fprintf(stderr, "fuzz_replay: no target '%s'\n", name.c_str());
  return nullptr;
}

// One input; false (with the file named) when it escapes with anything but a clean refusal.
bool replay(const Target& target, const fs::path& file) {
  try {
    const std::vector<std::uint8_t> bytes = tweedie::read_file_bytes(file.string());
    target.run(bytes.data(), bytes.size());
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_replay: %s: %s: %s\n", target.name, file.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "fuzz_replay: %s: %s: a non-standard exception\n", target.name, file.c_str());
  }
  return false;
}

bool replay_folder(const Target& target, const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(folder, ec))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());  // the same order on every machine
  std::size_t failed = 0;
  for (const fs::path& f : files) failed += !replay(target, f);
  std::printf("fuzz_replay: %-16s %zu inputs, %zu failed (%s)\n", target.name, files.size(), failed, folder.c_str());
  if (files.empty()) std::fprintf(stderr, "fuzz_replay: %s: no inputs in %s\n", target.name, folder.c_str());
  return !files.empty() && failed == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool ok = true;
  if (!args.empty() && args[0] == "--file") {
    const Target* target = args.size() >= 3 ? find_target(args[1]) : nullptr;
    if (!target) {
      std::fprintf(stderr, "usage: fuzz_replay --file TARGET FILE...\n");
      return 2;
    }
    for (std::size_t i = 2; i < args.size(); ++i) ok = replay(*target, args[i]) && ok;
    return ok ? 0 : 1;
  }
  fs::path corpus = TWEEDIE_FUZZ_CORPUS;
  if (!args.empty()) {
    corpus = args[0];
    args.erase(args.begin());
  }
  std::vector<const Target*> chosen;
  for (const std::string& name : args) {
    const Target* t = find_target(name);
    if (!t) return 2;
    chosen.push_back(t);
  }
  if (chosen.empty())
    for (const Target& t : kTargets) chosen.push_back(&t);
  for (const Target* t : chosen) ok = replay_folder(*t, corpus / t->name) && ok;
  return ok ? 0 : 1;
}

// Host FFTs through FFTW (single precision, OpenMP threads).
//
// Plans belong to the process, not to a context: executing a plan on new arrays is thread-safe, while
// planning is not and is serialised here. A plan is made once per (batch, d, h, w, direction, in place,
// alignment, threads) with FFTW_MEASURE on scratch arrays: FFTW times candidate algorithms and keeps
// the fastest, which for power-of-two planes runs 5 to 10 times faster than FFTW_ESTIMATE's guess
// (measured here: 1024x1024 in 4.8 ms instead of 53 ms). Because timing decides, the chosen algorithm,
// and so the last bits of results, can differ from one run to the next. Two environment variables
// control this:
//   TWEEDIE_FFTW_WISDOM=FILE     reuse the choices recorded in FILE and record new ones there, so that
//                                repeated runs are bitwise identical
//   TWEEDIE_FFTW_PLANNING=estimate|measure|patient   FFTW's planning effort (default measure);
//                                estimate is instant and always picks the same algorithm
#include <fftw3.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "kernels/fft.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

struct PlanKey {
  std::int64_t batch, d, h, w;  // d = 1: 2-D planes
  bool inverse, in_place, aligned;
  int threads;
  auto operator<=>(const PlanKey&) const = default;
};

class PlanCache {
 public:
  static PlanCache& instance() {
    static PlanCache cache;
    return cache;
  }

  fftwf_plan get(const PlanKey& key) {
    std::lock_guard lock(mutex_);
    auto found = plans_.find(key);
    if (found != plans_.end()) return found->second;
    fftwf_plan plan = make(key);
    plans_.emplace(key, plan);
    save_wisdom();
    return plan;
  }

 private:
  PlanCache() {
    fftwf_init_threads();
    const char* effort = std::getenv("TWEEDIE_FFTW_PLANNING");
    std::string e = effort ? effort : "measure";
    if (e == "estimate") flags_ = FFTW_ESTIMATE;
    else if (e == "patient") flags_ = FFTW_PATIENT;
    else if (e != "measure")
      throw ArgumentError(cat("TWEEDIE_FFTW_PLANNING='", e, "': expected estimate, measure or patient"));
    if (const char* w = std::getenv("TWEEDIE_FFTW_WISDOM")) {
      wisdom_ = w;
      if (std::filesystem::exists(wisdom_) && !fftwf_import_wisdom_from_filename(wisdom_.c_str()))
        throw IoError(cat(wisdom_, ": not an FFTW wisdom file (from TWEEDIE_FFTW_WISDOM)"));
    }
  }
  ~PlanCache() {
    for (auto& [key, plan] : plans_) fftwf_destroy_plan(plan);
  }

  fftwf_plan make(const PlanKey& k) {
    // Measuring overwrites the arrays, so plan on scratch ones of the same layout.
    std::size_t n = std::size_t(k.batch * k.d * k.h * k.w);
    fftwf_complex* in = fftwf_alloc_complex(n);
    fftwf_complex* out = k.in_place ? in : fftwf_alloc_complex(n);
    const int rank = k.d > 1 ? 3 : 2;
    int dims3[3] = {int(k.d), int(k.h), int(k.w)}, dist = int(k.d * k.h * k.w);
    int* dims = rank == 3 ? dims3 : dims3 + 1;
    fftwf_plan_with_nthreads(k.threads);
    fftwf_plan plan = fftwf_plan_many_dft(rank, dims, int(k.batch), in, nullptr, 1, dist, out, nullptr, 1, dist,
                                          k.inverse ? FFTW_BACKWARD : FFTW_FORWARD,
                                          flags_ | (k.aligned ? 0u : unsigned(FFTW_UNALIGNED)));
    if (out != in) fftwf_free(out);
    fftwf_free(in);
    if (!plan) throw BackendError(cat("FFTW could not plan a ", k.d > 1 ? cat(k.d, "x") : std::string(), k.h, "x", k.w, " transform of batch ", k.batch));
    return plan;
  }

  void save_wisdom() {
    if (wisdom_.empty()) return;
    std::string temp = wisdom_ + ".partial";
    if (fftwf_export_wisdom_to_filename(temp.c_str())) std::filesystem::rename(temp, wisdom_);
  }

  std::mutex mutex_;
  std::map<PlanKey, fftwf_plan> plans_;
  unsigned flags_ = FFTW_MEASURE;
  std::string wisdom_;
};

}  // namespace

void detail::fft_fftw(Context& ctx, const complex64* x, complex64* y, std::int64_t batch, std::int64_t d, std::int64_t h,
                      std::int64_t w, bool inverse) {
  auto* in = reinterpret_cast<fftwf_complex*>(const_cast<complex64*>(x));
  auto* out = reinterpret_cast<fftwf_complex*>(y);
  bool aligned = fftwf_alignment_of(reinterpret_cast<float*>(in)) == 0 && fftwf_alignment_of(reinterpret_cast<float*>(out)) == 0;
  fftwf_plan plan = PlanCache::instance().get({batch, d, h, w, inverse, in == out, aligned, ctx.threads()});
  fftwf_execute_dft(plan, in, out);
}

}  // namespace tweedie

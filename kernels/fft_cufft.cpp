// GPU FFTs through cuFFT; one plan per (batch, d, h, w, context), bound to the context's stream.
#include <cufft.h>

#include <map>
#include <tuple>

#include "kernels/fft.h"
#include "runtime/cuda_backend.h"
#include "runtime/cuda_check.h"

namespace tweedie {
namespace {

struct CufftPlans {
  explicit CufftPlans(Context&) {}
  ~CufftPlans() {
    for (auto& [key, plan] : plans) cufftDestroy(plan);
  }
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, cufftHandle> plans;
};

}  // namespace

void detail::fft_cufft(Context& ctx, const complex64* x, complex64* y, std::int64_t batch, std::int64_t d, std::int64_t h,
                       std::int64_t w, bool inverse) {
  cuda::activate(ctx.device().index());
  CufftPlans& cache = ctx.state<CufftPlans>();
  auto key = std::make_tuple(batch, d, h, w);
  auto found = cache.plans.find(key);
  if (found == cache.plans.end()) {
    cufftHandle plan;
    const int rank = d > 1 ? 3 : 2;
    int dims3[3] = {int(d), int(h), int(w)};
    int* dims = rank == 3 ? dims3 : dims3 + 1;
    int dist = int(d * h * w);
    TW_CHECK(cufftPlanMany(&plan, rank, dims, nullptr, 1, dist, nullptr, 1, dist, CUFFT_C2C, int(batch)));
    TW_CHECK(cufftSetStream(plan, static_cast<cudaStream_t>(ctx.stream())));
    found = cache.plans.emplace(key, plan).first;
  }
  auto* in = reinterpret_cast<cufftComplex*>(const_cast<complex64*>(x));
  TW_CHECK(cufftExecC2C(found->second, in, reinterpret_cast<cufftComplex*>(y), inverse ? CUFFT_INVERSE : CUFFT_FORWARD));
}

}  // namespace tweedie

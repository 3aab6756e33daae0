#pragma once
// Times one operation the way every `tweedie bench` does: one untimed warm-up, then runs until both a
// minimum count and a minimum total time are reached; the device is synchronised after every run so
// GPU time is included. Reports the median (what to quote) and the minimum.
#include <vector>

#include "runtime/context.h"
#include "runtime/timer.h"

namespace tweedie::bench {

struct Measurement {
  double median_ms = 0, min_ms = 0;
  int runs = 0;
};

struct MeasureOptions {
  int min_runs = 5;
  int max_runs = 1000;
  double min_seconds = 0.3;
};

template <class Op>
Measurement measure(Context& ctx, const Op& op, const MeasureOptions& options = {}) {
  op();
  ctx.synchronize();
  std::vector<double> ms;
  Timer total;
  while (int(ms.size()) < options.max_runs &&
         (int(ms.size()) < options.min_runs || total.seconds() < options.min_seconds)) {
    Timer t;
    op();
    ctx.synchronize();
    ms.push_back(t.milliseconds());
  }
  Measurement m;
  m.runs = int(ms.size());
  m.median_ms = median(ms);
  m.min_ms = *std::min_element(ms.begin(), ms.end());
  return m;
}

}  // namespace tweedie::bench

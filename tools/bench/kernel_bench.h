#pragma once
// `tweedie bench kernels`: each kernel on representative shapes, one JSON line per (op, shape,
// threads): {"bench":"kernels","op":"gemm","shape":[512,512,512],"device":"cpu","threads":2,
//  "median_ms":...,"min_ms":...,"runs":...,"gflops":...} with "gbps" instead for memory-bound ops.
// tools/bench/torch_kernels.py prints the same lines for PyTorch; tools/bench/compare.py joins them.
#include <ostream>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "runtime/device.h"

namespace tweedie::bench {

struct KernelBenchOptions {
  Device device;
  std::vector<int> threads;  // one sweep per count
  std::string filter;        // run only ops whose name contains this
  MeasureOptions measure;
};

void run_kernel_benchmarks(const KernelBenchOptions& options, std::ostream& out);

}  // namespace tweedie::bench

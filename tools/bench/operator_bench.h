#pragma once
// `tweedie bench operators`: forward operators as posterior methods use them (A, A^T, and J^T for the
// nonlinear one) on the sizes of common benchmarks, one JSON line per (op, shape, threads):
// {"bench":"operators","op":"mri-coils.adjoint","shape":[1,1,320,320],"threads":2,"median_ms":...},
// the shape being the batch of x in both directions.
// tools/bench/torch_operators.py prints the same lines for PyTorch; tools/bench/compare.py joins them.
#include <ostream>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "runtime/device.h"

namespace tweedie::bench {

struct OperatorBenchOptions {
  Device device;
  std::vector<int> threads;
  std::string filter;  // only ops whose name contains this
  MeasureOptions measure;
};

void run_operator_benchmarks(const OperatorBenchOptions& options, std::ostream& out);

}  // namespace tweedie::bench

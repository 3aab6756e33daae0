#pragma once
// `tweedie bench ... --compare OTHER.jsonl`: the run's JSON lines side by side with another
// implementation's (tools/bench/torch_*.py print the same lines), as a markdown table.
//
// Lines are joined on (op, case, device, threads); the case is the "shape" of kernel and operator
// lines, and model, batch, image size and tangents for unet, train and solve lines. OTHER may hold
// several rounds of the same cases (run the two alternately and append): each side counts with the
// median of its rounds. The ratio is other / tweedie, so above 1 tweedie is faster.
#include <ostream>
#include <string>

namespace tweedie::bench {

// `ours` holds this run's JSON lines (other lines are skipped); `other_path` is read here. Throws
// IoError naming the file when it cannot be read or a line is not JSON, and ArgumentError when no
// case of it matches this run.
void print_comparison(const std::string& ours, const std::string& other_path, std::ostream& out);

}  // namespace tweedie::bench

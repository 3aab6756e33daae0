#pragma once
// Stopping a run where a NaN or an infinity first appears, rather than writing NaN images.
//
// One reduction per check: the sum in double of a batch is finite exactly when every value is (float
// values cannot overflow a double sum), so the common case costs one pass and one scalar to the host.
// Only on failure is the batch copied to the host to name the item and the position.
#include <cstdint>
#include <string>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::samplers {

// Throws NumericError "<stage> gave nan for item 2 at (0, 5, 7) of its (1,64,64) values" if the batch
// (N, ...) holds a value that is not finite.
void require_finite(Context& ctx, const Tensor& batch, const std::string& stage);

}  // namespace tweedie::samplers

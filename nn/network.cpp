#include "nn/network.h"

#include "runtime/error.h"

namespace tweedie::nn {

std::vector<float> times_for(const Conditioning& c, std::int64_t n, const std::string& who) {
  if (c.t.size() == 1) return std::vector<float>(std::size_t(n), c.t[0]);
  if (std::int64_t(c.t.size()) != n)
    throw ShapeError(cat(who, ": ", c.t.size(), " time values for a batch of ", n, " (give one, or one per item)"));
  return c.t;
}

}  // namespace tweedie::nn

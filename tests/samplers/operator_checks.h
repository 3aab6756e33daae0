#pragma once
// Checks every operator test uses: the adjoint identity <A x, y> = <x, A^T y>, and derivatives against
// central finite differences. Inner products are the real ones of operator.h (complex tensors as
// pairs of reals), accumulated in double on the host.
#include <cstdint>

#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/operators/operator.h"

namespace tweedie::test {

// sum Re(conj(a) b) over all elements, in double.
double real_dot(const Tensor& a, const Tensor& b);

// A random (N, input...) or (N, output...) tensor on the test device, entries uniform in [-1, 1]
// (real and imaginary parts for c64).
Tensor random_input(const samplers::Operator& op, std::int64_t batch, std::uint64_t seed);
Tensor random_output(const samplers::Operator& op, std::int64_t batch, std::uint64_t seed);

// |<A x, y> - <x, A^T y>| / (|A x| |y|) for random x and y: the mismatch relative to the largest value
// either side can take (Cauchy-Schwarz), which linear-operator tests bound by 1e-5. Relative to the
// inner product itself the figure would swing with how close to orthogonal the random Ax and y happen
// to be (for n entries typically 1/sqrt(n)); a wrong adjoint gives O(1/sqrt(n)), thousands of times more.
double adjoint_mismatch(Context& ctx, const samplers::Operator& op, std::int64_t batch, std::uint64_t seed);

// Relative error |J dx - (A(x + h dx) - A(x - h dx)) / 2h| / |J dx| of the JVP at x for a random dx.
double jvp_error(Context& ctx, const samplers::Operator& op, const Tensor& x, std::uint64_t seed,
                 double h = 1e-2);
// Mismatch of <J dx, dy> and <dx, J^T dy> relative to |J dx| |dy| at x for random dx, dy (the VJP as the JVP's
// transpose; with jvp_error it checks the VJP against finite differences).
double vjp_mismatch(Context& ctx, const samplers::Operator& op, const Tensor& x, std::uint64_t seed);

}  // namespace tweedie::test

#pragma once
// Forward operators A of inverse problems y = A(x) + noise.
//
// An operator is built for one item signal (shape and type of one x, without the batch axis) and maps
// batches: x is (N, input shape...), y is (N, output shape...), for any N. Items are f32 (real
// images and vectors) or c64 (complex images, k-space).
//
// Linear operators give the adjoint A^T; every operator gives its derivatives at a point x, the JVP
// dy = J(x) dx and the VJP dx = J(x)^T dy (for linear ones, A dx and A^T dy). Adjoints are taken for
// the real inner product <a, b> = sum Re(conj(a) b): a complex tensor counts as the real vector of its
// real and imaginary parts. So the adjoint of a map from real images to k-space returns the real part
// of A^H y, and <A x, y> = <x, A^T y> holds for every operator, real or complex.
//
// Some outputs have structural zeros: an inpainting mask or an undersampled k-space keeps y at the
// full grid, with zeros where nothing is measured. observed() names the measured entries (an f32 0/1
// tensor of the output item shape) so that noise models neither add noise there nor score them; it is
// undefined when every entry is measured.
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::samplers {

class SpectralForm;  // operators/svd.h

struct Signal {
  Shape shape;                 // one item: (D) for vectors, (C, H, W) for images
  DType dtype = DType::f32;    // f32 or c64
  std::string str() const;     // "(1,64,64) c64"
};

class Operator {
 public:
  Operator(Signal input, Signal output) : input_(std::move(input)), output_(std::move(output)) {}
  virtual ~Operator() = default;

  // The canonical spec string this operator was built from, with every default and seed spelled out
  // ("sr:4:avg", "inpaint:p=0.25:seed=3"); it builds the same operator again.
  virtual std::string describe() const = 0;
  const Signal& input() const { return input_; }
  const Signal& output() const { return output_; }
  virtual bool is_linear() const { return true; }

  virtual void apply(Context& ctx, const Tensor& x, Tensor& y) const = 0;
  // A^T y; only for linear operators (the default throws, naming the operator).
  virtual void adjoint(Context& ctx, const Tensor& y, Tensor& x) const;
  // out = A^T A x (A^H A for complex outputs), x and out (N, input...): the normal operator that
  // least-squares solvers apply. The default runs A, then A^T; operators with a cheaper exact form
  // override it (non-Cartesian MRI: a Toeplitz embedding). Only for linear operators.
  virtual void normal(Context& ctx, const Tensor& x, Tensor& out) const;
  // J(x) dx and J(x)^T dy at x; linear operators need not override them.
  virtual void jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const;
  virtual void vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const;

  const Tensor& observed() const { return observed_; }
  // The SVD A = U S V^T of operators that have one in closed form or by construction (masks, average
  // pooling, dense matrices; operators/svd.h), for DDRM and DDNM; null for the others.
  virtual const SpectralForm* svd() const { return nullptr; }

  // Batch size of a tensor that must be (N, input...) or (N, output...) of the right type and on ctx's
  // device; errors name the operator, the role ("x", "y", "dx") and both shapes.
  std::int64_t batch_of_input(const Context& ctx, const Tensor& x, const char* role = "x") const;
  std::int64_t batch_of_output(const Context& ctx, const Tensor& y, const char* role = "y") const;
  // Throws if y cannot be this operator's observations (N, output...) of its type; the message starts
  // with `where` (a file and dataset).
  void check_observations(const Tensor& y, const std::string& where) const;
  Tensor make_input(std::int64_t batch, Device device) const;   // uninitialised
  Tensor make_output(std::int64_t batch, Device device) const;  // uninitialised

 protected:
  Signal input_, output_;
  Tensor observed_;  // on the operator's device, output item shape, f32 0/1; or undefined
};

// (N, shape...) from an item shape.
Shape batched(std::int64_t batch, const Shape& item);

}  // namespace tweedie::samplers

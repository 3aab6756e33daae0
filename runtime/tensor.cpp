#include "runtime/tensor.h"

#include "runtime/memory.h"

namespace tweedie {

Storage::Storage(Device device, std::size_t bytes)
    : device_(device), bytes_(bytes), data_(allocate(device, bytes)) {}

Storage::~Storage() {
  if (owned_) deallocate(device_, data_, bytes_);
}

Tensor Tensor::borrow(void* data, const Shape& shape, Device device, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  if (!data && t.nbytes() > 0) throw ArgumentError(cat("Tensor::borrow: null pointer for ", t.str()));
  t.storage_ = std::make_shared<Storage>(device, data, t.nbytes());
  return t;
}

Tensor Tensor::empty(const Shape& shape, Device device, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(device, t.nbytes());
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device, DType dtype) {
  Tensor t = empty(shape, device, dtype);
  zero_bytes(t.raw_data(), device, t.nbytes());
  return t;
}

Tensor Tensor::from_host(std::initializer_list<float> values, const Shape& shape, Device device) {
  return from_host(std::span<const float>(values.begin(), values.size()), shape, device);
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  return cat(dtype_name(dtype_), " ", shape_.str(), " on ", device_.str());
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape.numel() != numel())
    throw ShapeError(cat("cannot reshape ", shape_.str(), " (", numel(), " elements) to ", shape.str(), " (",
                         shape.numel(), " elements)"));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::view_as_real() const {
  if (dtype_ != DType::c64) throw DTypeError(cat("view_as_real needs a c64 tensor, not ", str()));
  if (rank() >= kMaxRank) throw ShapeError(cat("view_as_real: ", str(), " has no room for another axis"));
  std::vector<std::int64_t> dims(shape_.dims().begin(), shape_.dims().end());
  dims.push_back(2);
  Tensor t = *this;
  t.shape_ = Shape(std::span<const std::int64_t>(dims));
  t.dtype_ = DType::f32;
  return t;
}

Tensor Tensor::view_as_complex() const {
  if (dtype_ != DType::f32 || rank() == 0 || shape_[-1] != 2)
    throw DTypeError(cat("view_as_complex needs an f32 tensor whose last axis is 2, not ", str()));
  std::vector<std::int64_t> dims(shape_.dims().begin(), shape_.dims().end() - 1);
  Tensor t = *this;
  t.shape_ = Shape(std::span<const std::int64_t>(dims));
  t.dtype_ = DType::c64;
  return t;
}

Tensor Tensor::slice(std::int64_t start, std::int64_t length) const {
  if (rank() == 0) throw ShapeError("cannot slice a scalar tensor");
  if (start < 0 || length < 0 || start + length > shape_[0])
    throw ShapeError(cat("slice [", start, ", ", start + length, ") out of range for dimension 0 of ", shape_.str()));
  std::vector<std::int64_t> dims(shape_.dims().begin(), shape_.dims().end());
  dims[0] = length;
  Tensor t = *this;
  t.shape_ = Shape(dims);
  t.offset_ += std::size_t(start * shape_.stride(0)) * dtype_size(dtype_);
  return t;
}

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, device, dtype_);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& source) {
  if (source.shape_ != shape_ || source.dtype_ != dtype_)
    throw ShapeError(cat("copy_from: destination is ", str(), " but source is ", source.str()));
  copy_bytes(raw_data(), device_, source.raw_data(), source.device_, nbytes());
}

namespace detail {

void copy_from_host(Tensor& dst, const void* src, std::size_t bytes) {
  copy_bytes(dst.raw_data(), dst.device(), src, Device::cpu(), bytes);
}

void copy_to_host(void* dst, const Tensor& src, std::size_t bytes) {
  copy_bytes(dst, Device::cpu(), src.raw_data(), src.device(), bytes);
}

void dtype_mismatch(const Tensor& t, DType requested) {
  throw DTypeError(cat("tensor is ", t.str(), ", accessed as ", dtype_name(requested)));
}

void check_value_count(std::size_t values, const Shape& shape) {
  if (std::int64_t(values) != shape.numel())
    throw ShapeError(cat("got ", values, " values for shape ", shape.str(), " (", shape.numel(), " elements)"));
}

}  // namespace detail
}  // namespace tweedie

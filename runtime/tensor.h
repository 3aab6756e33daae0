#pragma once
// Tensor: a contiguous row-major block of elements on one device, with a shape and an element type.
// Tensors are handles: copying one shares its storage (like std::shared_ptr); views (reshape, slice)
// share it too. There is no autograd here: layers compute their derivatives explicitly.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/error.h"
#include "runtime/shape.h"

namespace tweedie {

// Bytes owned on one device, released when the last tensor viewing them goes away.
class Storage {
 public:
  Storage(Device device, std::size_t bytes);
  // Memory someone else owns (a caller's buffer, C API): never freed here.
  Storage(Device device, void* borrowed, std::size_t bytes) : device_(device), bytes_(bytes), data_(borrowed), owned_(false) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Device device_;
  std::size_t bytes_;
  void* data_;
  bool owned_ = true;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage; defined() is false

  // Uninitialised elements.
  static Tensor empty(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::f32);
  // A new tensor on `device` holding a copy of host `values` (values.size() must equal shape.numel()).
  template <class T>
  static Tensor from_host(std::span<const T> values, const Shape& shape, Device device = Device::cpu());
  static Tensor from_host(std::initializer_list<float> values, const Shape& shape, Device device = Device::cpu());
  // A tensor over memory the caller owns and keeps alive while the tensor (and its views) live; nothing
  // is copied or freed. `data` is host memory for the CPU, memory of that GPU for cuda:N.
  static Tensor borrow(void* data, const Shape& shape, Device device, DType dtype = DType::f32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  std::int64_t dim(int axis) const { return shape_[axis]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t nbytes() const { return std::size_t(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  std::string str() const;  // "f32 (2,3,4) on cpu"

  // Typed element pointers; throw DTypeError when T does not match dtype().
  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw_data() { return static_cast<char*>(storage_ ? storage_->data() : nullptr) + offset_; }
  const void* raw_data() const { return const_cast<Tensor*>(this)->raw_data(); }

  // Views: share storage, no copy.
  Tensor reshape(const Shape& shape) const;                  // same number of elements
  Tensor slice(std::int64_t start, std::int64_t length) const;  // rows [start, start+length) of dim 0
  // A c64 tensor as f32 with a last axis of 2 (real, imaginary), and back (the last axis must be 2).
  Tensor view_as_real() const;
  Tensor view_as_complex() const;
  bool shares_storage_with(const Tensor& other) const { return storage_ && storage_ == other.storage_; }

  // Copies.
  Tensor to(Device device) const;  // a copy on `device` (a copy even when already there)
  Tensor to_host() const { return to(Device::cpu()); }
  Tensor clone() const { return to(device_); }
  void copy_from(const Tensor& source);  // same shape and dtype; any devices
  template <class T = float> std::vector<T> to_vector() const;

 private:
  std::shared_ptr<Storage> storage_;
  std::size_t offset_ = 0;  // bytes from the start of storage
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_;
};

// ---- implementation of the templates ----

namespace detail {
void copy_from_host(Tensor& dst, const void* src, std::size_t bytes);
void copy_to_host(void* dst, const Tensor& src, std::size_t bytes);
[[noreturn]] void dtype_mismatch(const Tensor& t, DType requested);
void check_value_count(std::size_t values, const Shape& shape);
}  // namespace detail

template <class T>
Tensor Tensor::from_host(std::span<const T> values, const Shape& shape, Device device) {
  detail::check_value_count(values.size(), shape);
  Tensor t = empty(shape, device, dtype_of_v<T>);
  detail::copy_from_host(t, values.data(), values.size_bytes());
  return t;
}

template <class T>
T* Tensor::data() {
  if (dtype_of_v<T> != dtype_) detail::dtype_mismatch(*this, dtype_of_v<T>);
  return static_cast<T*>(raw_data());
}

template <class T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  if (dtype_of_v<T> != dtype_) detail::dtype_mismatch(*this, dtype_of_v<T>);
  std::vector<T> out(static_cast<std::size_t>(numel()));
  detail::copy_to_host(out.data(), *this, nbytes());
  return out;
}

}  // namespace tweedie

#pragma once
// Named parameters of a network, in creation order, with their gradients.
//
// Names are the state_dict names of the PyTorch model the architecture mirrors
// ("input_blocks.1.0.in_layers.2.weight"), so a checkpoint maps one to one. Layers keep pointers to
// their Parameters; the set owns them and keeps the pointers stable.
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::nn {

struct Parameter {
  std::string name;
  Tensor value;
  Tensor grad;  // allocated (zero) by the first VJP that asks for parameter gradients

  // The gradient tensor, created as zeros on first use.
  Tensor& gradient();
};

class ParameterSet {
 public:
  explicit ParameterSet(Device device) : device_(device) {}
  ParameterSet(const ParameterSet&) = delete;
  ParameterSet& operator=(const ParameterSet&) = delete;

  // A new parameter of `shape`, zero-filled. Names must be unique.
  Parameter* add(const std::string& name, const Shape& shape);

  Device device() const { return device_; }
  std::size_t size() const { return ordered_.size(); }
  const std::vector<Parameter*>& all() const { return ordered_; }
  Parameter* find(const std::string& name) const;  // nullptr when absent
  std::int64_t count_values() const;               // total number of scalars

  // Sets every gradient that exists back to zero.
  void zero_gradients(Context& ctx);

 private:
  Device device_;
  std::deque<Parameter> storage_;  // stable addresses
  std::vector<Parameter*> ordered_;
  std::map<std::string, Parameter*> by_name_;
};

}  // namespace tweedie::nn

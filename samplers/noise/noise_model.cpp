#include "samplers/noise/noise_model.h"


#include "samplers/noise/noise_checks.h"

namespace tweedie::samplers {

const char* link_name(Link link) {
  switch (link) {
    case Link::exp: return "exp";
    case Link::softplus: return "softplus";
    case Link::sigmoid: return "sigmoid";
  }
  return "?";
}

namespace noise_checks {

std::int64_t batch_of(const Context& ctx, const char* model, const Tensor& z, bool complex_ok) {
  if (!z.defined()) throw ArgumentError(cat(model, ": z is an undefined tensor"));
  if (z.rank() < 1) throw ShapeError(cat(model, ": z is ", z.str(), ", expected a batch (N, item...)"));
  bool type_ok = z.dtype() == DType::f32 || (complex_ok && z.dtype() == DType::c64);
  if (!type_ok)
    throw DTypeError(cat(model, ": z is ", z.str(), ", expected f32", complex_ok ? " or c64" : " (this model is real-valued)"));
  if (z.device() != ctx.device())
    throw DeviceError(cat(model, ": z is ", z.str(), " but the context runs on ", ctx.device().str()));
  return z.dim(0);
}

void expect_like_z(const Context& ctx, const char* model, const char* name, const Tensor& t, const Tensor& z) {
  if (!t.defined()) throw ArgumentError(cat(model, ": ", name, " is an undefined tensor"));
  if (t.shape() != z.shape() || t.dtype() != z.dtype())
    throw ShapeError(cat(model, ": ", name, " is ", t.str(), " but z is ", z.str(), "; they must have the same shape and type"));
  if (t.device() != ctx.device())
    throw DeviceError(cat(model, ": ", name, " is ", t.str(), " but the context runs on ", ctx.device().str()));
}

void prepare_output(const Context& ctx, const char* model, const char* name, Tensor& out, const Tensor& z) {
  if (!out.defined()) out = Tensor::empty(z.shape(), ctx.device(), z.dtype());
  else expect_like_z(ctx, model, name, out, z);
}

Tensor entry_tensor(const Context& ctx, const char* model, const char* name, const Tensor& t, const Tensor& z,
                    std::int64_t batch) {
  if (!t.defined()) return t;
  std::int64_t entries = batch > 0 ? z.numel() / batch : 0;
  if (t.dtype() != DType::f32) throw DTypeError(cat(model, ": ", name, " is ", t.str(), ", expected f32"));
  if (t.numel() != entries)
    throw ShapeError(cat(model, ": ", name, " is ", t.str(), " but items of z ", z.str(), " have ", entries, " entries"));
  return t.device() == ctx.device() ? t : t.to(ctx.device());
}

HostObservation host_observation(std::string_view where, const char* model, const Tensor& y, const Tensor& observed,
                                 bool complex_ok) {
  if (!y.defined()) throw ArgumentError(cat(where, ": y is an undefined tensor"));
  if (y.dtype() == DType::c64 && !complex_ok)
    throw ArgumentError(cat(where, ": y is complex (", y.str(), "), but ", model, " counts are real numbers"));
  if (y.dtype() != DType::f32 && y.dtype() != DType::c64)
    throw DTypeError(cat(where, ": y is ", y.str(), ", expected f32", complex_ok ? " or c64" : ""));
  if (y.rank() < 1) throw ShapeError(cat(where, ": y is ", y.str(), ", expected a batch (N, item...)"));
  std::int64_t entries = y.dim(0) > 0 ? y.numel() / y.dim(0) : 0;
  if (observed.defined() && (observed.dtype() != DType::f32 || observed.numel() != entries))
    throw ShapeError(cat(where, ": the observed mask is ", observed.str(), " but items of y ", y.str(), " have ", entries,
                         " entries"));
  return {y.to_host(), observed.defined() ? observed.to_host() : Tensor(), entries};
}

void bad_entry(std::string_view where, const Shape& shape, std::int64_t flat, const std::string& value, std::string_view rule) {
  throw ArgumentError(cat(where, ": entry ", shape.index_str(flat), " is ", value, ", but ", rule));
}

void expect_parameter_tensor(const char* model, const std::string& description, const char* name, const Tensor& t) {
  if (!t.defined()) throw ArgumentError(cat(model, " '", description, "': ", name, " is an undefined tensor"));
  if (t.dtype() != DType::f32) throw DTypeError(cat(model, " '", description, "': ", name, " is ", t.str(), ", expected f32"));
}

void bad_parameter(const char* model, const std::string& description, const char* name, const Tensor& t,
                   std::int64_t flat, std::string_view rule) {
  throw ArgumentError(cat(model, " '", description, "': ", name, " entry ", t.shape().index_str(flat), " is ",
                          shortest_text(t.data<float>()[flat]), ", but ", rule));
}

}  // namespace noise_checks
}  // namespace tweedie::samplers

#include "io/hdf5_snapshot.h"

#include <algorithm>
#include <cstring>

#include "io/hdf5_check.h"

namespace tweedie {

std::string snapshot_key(const std::string& object) {
  std::size_t begin = object.find_first_not_of('/');
  if (begin == std::string::npos) return "";
  std::size_t end = object.find_last_not_of('/');
  return object.substr(begin, end - begin + 1);
}

namespace {

// Reading a dataset's values may take as long as a slow disk needs: one second per 64 MiB on top of
// the step limit.
double seconds_to_read(std::size_t bytes) { return std::min(double(bytes) / double(64 << 20), 3600.0); }

void snapshot_attributes(const H5File& file, hid_t object_id, const std::string& object, H5Snapshot& out,
                         const std::function<void(const std::string&, double)>& step) {
  std::vector<std::string> names;
  hsize_t index = 0;
  H5Aiterate2(
      object_id, H5_INDEX_NAME, H5_ITER_NATIVE, &index,
      [](hid_t, const char* name, const H5A_info_t*, void* names) -> herr_t {
        static_cast<std::vector<std::string>*>(names)->emplace_back(name);
        return 0;
      },
      &names);
  std::string label = object.empty() ? std::string("the root group") : cat("'", object, "'");
  for (const std::string& name : names) {
    step(cat("attribute '", name, "' of ", label), 0);
    H5Snapshot::Attribute a;
    hid_t attr = H5Aopen(object_id, name.c_str(), H5P_DEFAULT);
    if (attr < 0) continue;  // has_attribute() says yes; the reads below say why it cannot be read
    hid_t type = H5Aget_type(attr);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (type >= 0) H5Tclose(type);
    H5Aclose(attr);
    a.is_string = cls == H5T_STRING;
    a.is_number = cls == H5T_FLOAT || cls == H5T_INTEGER;
    try {
      if (a.is_string) a.text = file.string_attribute(object, name);
      if (a.is_number) a.number = file.number_attribute(object, name);
    } catch (const Error& e) {
      a.error = e.what();
    }
    out.attributes[object][name] = std::move(a);
  }
}

void snapshot_dataset(const H5File& file, hid_t file_id, const std::string& name, H5Snapshot& out,
                      const std::function<void(const std::string&, double)>& step) {
  H5Snapshot::Dataset d;
  out.datasets[name];  // listed even if its header cannot be read, as datasets() would list it
  try {
    step(cat("the type and shape of dataset '", name, "'"), 0);
    d.shape = file.shape(name);
    d.stored = file.stored_as(name);
    hid_t ds = TW_CHECK(H5Dopen2(file_id, name.c_str(), H5P_DEFAULT));
    hid_t type = H5Dget_type(ds);
    d.complex = type >= 0 && is_complex_type(type);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    d.numeric = cls == H5T_FLOAT || cls == H5T_INTEGER;
    if (type >= 0) H5Tclose(type);
    H5Dclose(ds);
  } catch (const Error& e) {
    d.header_error = e.what();
  }
  if (d.header_error.empty() && (d.numeric || d.complex)) {
    try {
      std::size_t bytes = std::size_t(d.shape.numel()) * 8;
      step(cat("the values of dataset '", name, "' ", d.shape.str()), seconds_to_read(bytes));
      d.values = file.read(name, d.complex ? DType::c64 : DType::f32);
    } catch (const Error& e) {
      d.read_error = e.what();
    } catch (const std::bad_alloc&) {
      d.read_error = cat(file.path(), ": dataset '", name, "' of shape ", d.shape.str(), " does not fit in memory");
    }
  }
  out.datasets[name] = std::move(d);
}

}  // namespace

H5Snapshot take_snapshot(const H5File& file, const std::function<void(const std::string&, double)>& step) {
  H5Snapshot out;
  step("the link tree", 0);
  std::vector<std::string> names{""};
  try {
    visit_links(file.id_, [&](const char* name) { names.emplace_back(name); });
  } catch (const Error&) {
    throw IoError(cat(file.path(), ": corrupt HDF5 file: its tree of groups and datasets cannot be walked"));
  }
  for (const std::string& name : names) {
    std::string label = name.empty() ? std::string("the root group") : cat("'", name, "'");
    step(cat("the header of ", label), 0);
    hid_t object = H5Oopen(file.id_, name.empty() ? "/" : name.c_str(), H5P_DEFAULT);
    if (object < 0) continue;
    bool is_dataset = H5Iget_type(object) == H5I_DATASET;
    out.objects.insert(name);
    snapshot_attributes(file, object, name, out, step);
    H5Oclose(object);
    if (is_dataset && !out.datasets.count(name)) {  // a dataset linked twice is read once
      out.dataset_order.push_back(name);
      snapshot_dataset(file, hid_t(file.id_), name, out, step);
    }
  }
  return out;
}

// ---- bytes ----

namespace {

class Encoder {
 public:
  void u64(std::uint64_t v) { bytes(&v, sizeof v); }
  void f64(double v) { bytes(&v, sizeof v); }
  void text(const std::string& s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
  std::vector<std::uint8_t> out;
};

class Decoder {
 public:
  Decoder(const std::uint8_t* bytes, std::size_t size, const std::string& path) : bytes_(bytes), size_(size), path_(path) {}
  std::uint64_t u64() {
    std::uint64_t v;
    copy(&v, sizeof v);
    return v;
  }
  double f64() {
    double v;
    copy(&v, sizeof v);
    return v;
  }
  std::string text() {
    std::uint64_t n = u64();
    need(n);
    std::string s(reinterpret_cast<const char*>(bytes_ + at_), n);
    at_ += n;
    return s;
  }
  void need(std::uint64_t n) const {
    if (n > size_ - at_) malformed();
  }
  void copy(void* p, std::uint64_t n) {
    need(n);
    if (n) std::memcpy(p, bytes_ + at_, n);
    at_ += n;
  }
  std::uint64_t count(std::uint64_t bytes_each) {  // an element count that the rest of the buffer can hold
    std::uint64_t n = u64();
    if (bytes_each && n > (size_ - at_) / bytes_each) malformed();
    return n;
  }
  bool done() const { return at_ == size_; }
  [[noreturn]] void malformed() const {
    throw IoError(cat(path_, ": the process that read the file sent back malformed data (at byte ", at_, ")"));
  }

 private:
  const std::uint8_t* bytes_;
  std::size_t size_;
  const std::string& path_;
  std::size_t at_ = 0;
};

void encode_shape(Encoder& e, const Shape& s) {
  e.u64(std::uint64_t(s.rank()));
  for (std::int64_t d : s.dims()) e.u64(std::uint64_t(d));
}

Shape decode_shape(Decoder& d) {
  std::uint64_t rank = d.u64();
  if (rank > std::uint64_t(kMaxRank)) d.malformed();
  std::vector<std::int64_t> dims(rank);
  for (auto& x : dims) {
    x = std::int64_t(d.u64());
    if (x < 0) d.malformed();
  }
  return Shape(dims);
}

}  // namespace

std::vector<std::uint8_t> encode(const H5Snapshot& s) {
  Encoder e;
  e.u64(s.objects.size());
  for (const auto& o : s.objects) e.text(o);
  e.u64(s.attributes.size());
  for (const auto& [object, attributes] : s.attributes) {
    e.text(object);
    e.u64(attributes.size());
    for (const auto& [name, a] : attributes) {
      e.text(name);
      e.u64(std::uint64_t(a.is_string) | std::uint64_t(a.is_number) << 1);
      e.text(a.text);
      e.f64(a.number);
      e.text(a.error);
    }
  }
  e.u64(s.dataset_order.size());
  for (const auto& name : s.dataset_order) {
    const H5Snapshot::Dataset& d = s.datasets.at(name);
    e.text(name);
    e.text(d.header_error);
    e.text(d.read_error);
    encode_shape(e, d.shape);
    e.u64(std::uint64_t(d.complex) | std::uint64_t(d.numeric) << 1);
    e.u64(std::uint64_t(d.stored));
    bool has_values = d.values.defined();
    e.u64(has_values);
    if (has_values) {
      encode_shape(e, d.values.shape());
      e.u64(d.values.dtype() == DType::c64);
      e.u64(d.values.nbytes());
      e.bytes(d.values.raw_data(), d.values.nbytes());
    }
  }
  return std::move(e.out);
}

H5Snapshot decode(const std::uint8_t* bytes, std::size_t size, const std::string& path) {
  Decoder d(bytes, size, path);
  H5Snapshot s;
  for (std::uint64_t i = 0, n = d.count(8); i < n; ++i) s.objects.insert(d.text());
  for (std::uint64_t i = 0, n = d.count(8); i < n; ++i) {
    auto& attributes = s.attributes[d.text()];
    for (std::uint64_t j = 0, m = d.count(8); j < m; ++j) {
      std::string name = d.text();
      H5Snapshot::Attribute a;
      std::uint64_t flags = d.u64();
      a.is_string = flags & 1;
      a.is_number = flags & 2;
      a.text = d.text();
      a.number = d.f64();
      a.error = d.text();
      attributes[name] = std::move(a);
    }
  }
  for (std::uint64_t i = 0, n = d.count(8); i < n; ++i) {
    std::string name = d.text();
    H5Snapshot::Dataset x;
    x.header_error = d.text();
    x.read_error = d.text();
    x.shape = decode_shape(d);
    std::uint64_t flags = d.u64();
    x.complex = flags & 1;
    x.numeric = flags & 2;
    std::uint64_t stored = d.u64();
    if (stored > std::uint64_t(StoredAs::bf16)) d.malformed();
    x.stored = StoredAs(stored);
    if (d.u64()) {
      Shape shape = decode_shape(d);
      DType dtype = d.u64() ? DType::c64 : DType::f32;
      std::uint64_t nbytes = d.u64(), expected = dtype_size(dtype);
      for (std::int64_t extent : shape.dims())
        if (__builtin_mul_overflow(expected, std::uint64_t(extent), &expected)) d.malformed();
      if (nbytes != expected) d.malformed();
      d.need(nbytes);
      x.values = Tensor::empty(shape, Device::cpu(), dtype);
      d.copy(x.values.raw_data(), nbytes);
    }
    s.dataset_order.push_back(name);
    s.datasets[name] = std::move(x);
  }
  if (!d.done()) d.malformed();
  return s;
}

}  // namespace tweedie

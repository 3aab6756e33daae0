#include "io/hdf5_file.h"

#include <filesystem>
#include <functional>
#include <mutex>

#include "io/hdf5_check.h"
#include "io/hdf5_isolation.h"
#include "io/hdf5_snapshot.h"
#include "runtime/half.h"

namespace tweedie {
namespace {

// HDF5 prints its error stack to stderr by default; we turn failures into exceptions instead.
void quiet_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// Closes an HDF5 identifier when it goes out of scope.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  operator hid_t() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// h5py's complex layout: {float r; float i;}.
hid_t complex_type() {
  hid_t t = TW_CHECK(H5Tcreate(H5T_COMPOUND, sizeof(complex64)));
  TW_CHECK(H5Tinsert(t, "r", 0, H5T_NATIVE_FLOAT));
  TW_CHECK(H5Tinsert(t, "i", sizeof(float), H5T_NATIVE_FLOAT));
  return t;
}

// IEEE binary16 as an HDF5 type, laid out as h5py declares float16.
hid_t half_type() {
  hid_t t = TW_CHECK(H5Tcopy(H5T_IEEE_F32LE));
  TW_CHECK(H5Tset_fields(t, 15, 10, 5, 0, 10));
  TW_CHECK(H5Tset_size(t, 2));
  TW_CHECK(H5Tset_ebias(t, 15));
  return t;
}

// IEEE binary16, little-endian: the layout read() widens itself. Other 2-byte float layouts are left to
// HDF5's conversion.
bool is_ieee_half(hid_t type) {
  if (H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != 2 || H5Tget_order(type) != H5T_ORDER_LE) return false;
  std::size_t sign = 0, exponent = 0, exponent_bits = 0, mantissa = 0, mantissa_bits = 0;
  if (H5Tget_fields(type, &sign, &exponent, &exponent_bits, &mantissa, &mantissa_bits) < 0) return false;
  return sign == 15 && exponent == 10 && exponent_bits == 5 && mantissa == 0 && mantissa_bits == 10 && H5Tget_ebias(type) == 15;
}

}  // namespace

bool is_complex_type(hid_t type) {
  if (H5Tget_class(type) != H5T_COMPOUND || H5Tget_nmembers(type) != 2) return false;
  char* a = H5Tget_member_name(type, 0);
  char* b = H5Tget_member_name(type, 1);
  bool ok = a && b && std::string(a) == "r" && std::string(b) == "i";
  H5free_memory(a);
  H5free_memory(b);
  return ok;
}

namespace {

const char* object_name(const std::string& object) { return object.empty() ? "/" : object.c_str(); }

// The checks read() makes of a dataset's type before reading it, shared by both ways of reading.
void check_readable_as(const std::string& where, bool complex, bool numeric, DType dtype) {
  if (dtype == DType::c64 && !complex) throw IoError(cat(where, " holds real numbers, complex (c64) requested"));
  if (dtype == DType::f32 && !numeric)
    throw IoError(cat(where, complex ? " holds complex numbers, real (f32) requested"
                                     : " holds neither numbers nor h5py-style complex numbers"));
  if (dtype != DType::f32 && dtype != DType::c64)
    throw IoError(cat(where, ": reading as ", dtype_name(dtype), " is not supported (f32 or c64)"));
}

std::string attribute_label(const std::string& path, const std::string& object, const std::string& name) {
  return cat(path, ": attribute '", name, "' of '", object_name(object), "'");
}

template <class LinkInfo>
herr_t visit_link(hid_t, const char* name, const LinkInfo*, void* visit) {
  (*static_cast<const std::function<void(const char*)>*>(visit))(name);
  return 0;
}

}  // namespace

std::string hdf5_error_message() {
  std::string message;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        auto* m = static_cast<std::string*>(out);
        if (m->empty() && e->desc) *m = e->desc;
        return 0;
      },
      &message);
  H5Eclear2(H5E_DEFAULT);
  return message.empty() ? "unknown failure" : message;
}

void visit_links(hid_t file, const std::function<void(const char* name)>& visit) {
  void* data = const_cast<std::function<void(const char*)>*>(&visit);
#if H5_VERSION_GE(1, 12, 0)
  TW_CHECK(H5Lvisit2(file, H5_INDEX_NAME, H5_ITER_INC, visit_link<H5L_info2_t>, data));
#else
  TW_CHECK(H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_link<H5L_info_t>, data));
#endif
}

std::string hdf5_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return cat(major, ".", minor, ".", release);
}

H5File::H5File(std::string path, std::int64_t id, std::unique_ptr<AtomicOutput> output)
    : path_(std::move(path)), id_(id), writable_(output != nullptr), output_(std::move(output)) {}

H5File::H5File(std::string path, std::shared_ptr<const H5Snapshot> snapshot)
    : path_(std::move(path)), snapshot_(std::move(snapshot)) {}

H5File::H5File(H5File&& other) noexcept
    : path_(std::move(other.path_)),
      id_(other.id_),
      writable_(other.writable_),
      output_(std::move(other.output_)),
      snapshot_(std::move(other.snapshot_)) {
  other.id_ = -1;
}

H5File::~H5File() {
  if (id_ >= 0) H5Fclose(id_);  // an uncommitted output_ then deletes the temporary file
}

H5File H5File::open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw IoError(cat(path, ": no such file"));
  if (hdf5_isolation_enabled()) return H5File(path, read_hdf5_isolated(path));
  return open_in_process(path);
}

H5File H5File::open_in_process(const std::string& path) {
  quiet_hdf5();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw IoError(cat(path, ": no such file"));
  if (H5Fis_hdf5(path.c_str()) <= 0) throw IoError(cat(path, ": not an HDF5 file"));
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw IoError(cat(path, ": cannot open: ", hdf5_error_message()));
  return H5File(path, id, nullptr);
}

H5File H5File::create(const std::string& path) {
  quiet_hdf5();
  auto output = std::make_unique<AtomicOutput>(path);
  hid_t id = H5Fcreate(output->temp_path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) throw IoError(cat(path, ": cannot create: ", hdf5_error_message()));
  return H5File(path, id, std::move(output));
}

void H5File::commit() {
  require_writable("commit");
  TW_CHECK(H5Fclose(id_));
  id_ = -1;
  output_->commit();
}

void H5File::require_writable(const char* what) const {
  if (!writable_) throw IoError(cat(path_, ": ", what, " on a file opened for reading"));
  if (id_ < 0) throw IoError(cat(path_, ": ", what, " on a closed file"));
}

std::string H5File::where(const std::string& dataset) const { return cat(path_, ": dataset '", dataset, "'"); }

namespace {

const H5Snapshot::Dataset* find_dataset(const H5Snapshot& s, const std::string& dataset) {
  auto it = s.datasets.find(snapshot_key(dataset));
  return it == s.datasets.end() ? nullptr : &it->second;
}

const H5Snapshot::Attribute& find_attribute(const H5Snapshot& s, const std::string& path, const std::string& object,
                                            const std::string& name) {
  if (!s.objects.count(snapshot_key(object))) throw IoError(cat(path, ": object '", object_name(object), "' not found"));
  auto on = s.attributes.find(snapshot_key(object));
  if (on == s.attributes.end() || !on->second.count(name)) throw IoError(cat(attribute_label(path, object, name), " not found"));
  return on->second.at(name);
}

// The snapshot's record of `dataset`, after the errors shape() would have raised.
const H5Snapshot::Dataset& checked_dataset(const H5Snapshot& s, const std::string& dataset, const std::string& where) {
  const H5Snapshot::Dataset* d = find_dataset(s, dataset);
  if (!d) throw IoError(cat(where, " not found"));
  if (!d->header_error.empty()) throw IoError(d->header_error);
  return *d;
}

}  // namespace

bool H5File::has(const std::string& dataset) const {
  if (snapshot_) return find_dataset(*snapshot_, dataset) != nullptr;
  // H5Lexists fails, rather than answering no, when an intermediate group is missing: walk the path.
  std::string prefix;
  std::size_t start = 0;
  while (start <= dataset.size()) {
    std::size_t slash = dataset.find('/', start);
    std::string part = dataset.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) {
      prefix += (prefix.empty() ? "" : "/") + part;
      if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (prefix.empty()) return false;
  hid_t obj = H5Oopen(id_, prefix.c_str(), H5P_DEFAULT);
  if (obj < 0) return false;
  bool is_dataset = H5Iget_type(obj) == H5I_DATASET;
  H5Oclose(obj);
  return is_dataset;
}

std::vector<std::string> H5File::datasets() const {
  if (snapshot_) return snapshot_->dataset_order;
  std::vector<std::string> names;
  visit_links(id_, [&](const char* name) {
    hid_t obj = H5Oopen(id_, name, H5P_DEFAULT);
    if (obj < 0) return;
    if (H5Iget_type(obj) == H5I_DATASET) names.emplace_back(name);
    H5Oclose(obj);
  });
  return names;
}

Shape H5File::shape(const std::string& dataset) const {
  if (snapshot_) return checked_dataset(*snapshot_, dataset, where(dataset)).shape;
  if (!has(dataset)) throw IoError(cat(where(dataset), " not found"));
  Handle ds(TW_CHECK(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT)), H5Dclose);
  Handle space(TW_CHECK(H5Dget_space(ds)), H5Sclose);
  int rank = TW_CHECK(H5Sget_simple_extent_ndims(space));
  if (rank > kMaxRank) throw IoError(cat(where(dataset), " has ", rank, " dimensions; tweedie tensors have at most ", kMaxRank));
  hsize_t dims[kMaxRank] = {};
  TW_CHECK(H5Sget_simple_extent_dims(space, dims, nullptr));
  std::vector<std::int64_t> extents(dims, dims + rank);
  return Shape(extents);
}

Tensor H5File::read(const std::string& dataset, Device device) const {
  if (snapshot_) return read(dataset, checked_dataset(*snapshot_, dataset, where(dataset)).complex ? DType::c64 : DType::f32, device);
  if (!has(dataset)) throw IoError(cat(where(dataset), " not found"));
  Handle ds(TW_CHECK(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT)), H5Dclose);
  Handle type(TW_CHECK(H5Dget_type(ds)), H5Tclose);
  return read(dataset, is_complex_type(type) ? DType::c64 : DType::f32, device);
}

Tensor H5File::read(const std::string& dataset, DType dtype, Device device) const {
  if (snapshot_) {
    const H5Snapshot::Dataset& d = checked_dataset(*snapshot_, dataset, where(dataset));
    check_readable_as(where(dataset), d.complex, d.numeric, dtype);
    if (!d.read_error.empty()) throw IoError(d.read_error);
    return device.is_cpu() ? d.values.clone() : d.values.to(device);  // the snapshot stays as read
  }
  Shape s = shape(dataset);
  Handle ds(TW_CHECK(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT)), H5Dclose);
  Handle type(TW_CHECK(H5Dget_type(ds)), H5Tclose);
  H5T_class_t cls = H5Tget_class(type);
  check_readable_as(where(dataset), is_complex_type(type), cls == H5T_FLOAT || cls == H5T_INTEGER, dtype);
  Tensor host = Tensor::empty(s, Device::cpu(), dtype);
  StoredAs stored = dtype == DType::f32 ? stored_as(dataset) : StoredAs::f32;
  if (stored != StoredAs::f32) {
    // 16-bit formats are widened here: bf16 has no HDF5 type, and HDF5's own f16 conversion goes bit by
    // bit (about 40x slower than this loop).
    std::vector<std::uint16_t> bits(std::size_t(host.numel()));
    hid_t bits_type = stored == StoredAs::f16 ? hid_t(type) : H5T_NATIVE_UINT16;  // the file's own type: no conversion
    if (!bits.empty() && H5Dread(ds, bits_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bits.data()) < 0)
      throw IoError(cat(where(dataset), ": read failed: ", hdf5_error_message()));
    float* out = host.data<float>();
    for (std::size_t i = 0; i < bits.size(); ++i) out[i] = stored == StoredAs::bf16 ? bf16_to_f32(bits[i]) : f16_to_f32(bits[i]);
    return device.is_cpu() ? host : host.to(device);
  }
  Handle memtype(dtype == DType::c64 ? complex_type() : H5Tcopy(H5T_NATIVE_FLOAT), H5Tclose);
  if (host.numel() > 0 && H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.raw_data()) < 0)
    throw IoError(cat(where(dataset), ": read failed: ", hdf5_error_message()));
  return device.is_cpu() ? host : host.to(device);
}

void H5File::write(const std::string& dataset, const Tensor& tensor, StoredAs stored) {
  require_writable("write");
  if (tensor.dtype() != DType::f32 && tensor.dtype() != DType::c64)
    throw IoError(cat(where(dataset), ": cannot write ", tensor.str(), " (f32 or c64 only)"));
  if (stored != StoredAs::f32 && tensor.dtype() != DType::f32)
    throw IoError(cat(where(dataset), ": only f32 tensors can be stored as f16 or bf16"));
  if (has(dataset)) throw IoError(cat(where(dataset), " already exists"));
  Tensor host = tensor.device().is_cpu() ? tensor : tensor.to_host();
  hsize_t dims[kMaxRank] = {};
  for (int i = 0; i < host.rank(); ++i) dims[i] = hsize_t(host.dim(i));
  Handle space(host.rank() == 0 ? TW_CHECK(H5Screate(H5S_SCALAR)) : TW_CHECK(H5Screate_simple(host.rank(), dims, nullptr)),
               H5Sclose);
  hid_t file_type = host.dtype() == DType::c64 ? complex_type()
                    : stored == StoredAs::f16    ? half_type()
                    : stored == StoredAs::bf16   ? H5Tcopy(H5T_STD_U16LE)
                                                 : H5Tcopy(H5T_NATIVE_FLOAT);
  Handle type(file_type, H5Tclose);
  // Narrow formats are rounded here and written bit for bit (HDF5's own conversion truncates).
  std::vector<std::uint16_t> narrow;
  const void* data = host.raw_data();
  if (stored != StoredAs::f32) {
    const float* f = host.data<float>();
    narrow.resize(std::size_t(host.numel()));
    for (std::size_t i = 0; i < narrow.size(); ++i) narrow[i] = stored == StoredAs::f16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
    data = narrow.data();
  }
  Handle links(TW_CHECK(H5Pcreate(H5P_LINK_CREATE)), H5Pclose);
  TW_CHECK(H5Pset_create_intermediate_group(links, 1));
  hid_t id = H5Dcreate2(id_, dataset.c_str(), type, space, links, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) throw IoError(cat(where(dataset), ": cannot create: ", hdf5_error_message()));
  Handle ds(id, H5Dclose);
  if (host.numel() > 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    throw IoError(cat(where(dataset), ": write failed: ", hdf5_error_message()));
  if (stored == StoredAs::bf16) set_attribute(dataset, "dtype", std::string("bf16"));
}

StoredAs H5File::stored_as(const std::string& dataset) const {
  if (snapshot_) return checked_dataset(*snapshot_, dataset, where(dataset)).stored;
  if (!has(dataset)) throw IoError(cat(where(dataset), " not found"));
  if (has_attribute(dataset, "dtype") && string_attribute(dataset, "dtype") == "bf16") return StoredAs::bf16;
  Handle ds(TW_CHECK(H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT)), H5Dclose);
  Handle type(TW_CHECK(H5Dget_type(ds)), H5Tclose);
  return is_ieee_half(type) ? StoredAs::f16 : StoredAs::f32;
}

namespace {

// Opens `object` and its attribute `name` for writing, replacing an existing attribute.
template <class Write>
void write_attribute(hid_t file, const std::string& path, const std::string& object, const std::string& name,
                     hid_t type, Write&& write) {
  hid_t obj_id = H5Oopen(file, object_name(object), H5P_DEFAULT);
  if (obj_id < 0) throw IoError(cat(path, ": object '", object_name(object), "' not found"));
  Handle obj(obj_id, H5Oclose);
  if (H5Aexists(obj, name.c_str()) > 0) TW_CHECK(H5Adelete(obj, name.c_str()));
  Handle space(TW_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Handle attr(TW_CHECK(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT)), H5Aclose);
  write(hid_t(attr));
}

}  // namespace

void H5File::set_attribute(const std::string& object, const std::string& name, const std::string& value) {
  require_writable("set_attribute");
  // Variable-length UTF-8, as h5py writes str attributes (and reads them back as str, not bytes).
  Handle type(TW_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  TW_CHECK(H5Tset_size(type, H5T_VARIABLE));
  TW_CHECK(H5Tset_cset(type, H5T_CSET_UTF8));
  write_attribute(id_, path_, object, name, type, [&](hid_t attr) {
    const char* text = value.c_str();
    TW_CHECK(H5Awrite(attr, type, &text));
  });
}

void H5File::set_attribute(const std::string& object, const std::string& name, double value) {
  require_writable("set_attribute");
  write_attribute(id_, path_, object, name, H5T_NATIVE_DOUBLE,
                  [&](hid_t attr) { TW_CHECK(H5Awrite(attr, H5T_NATIVE_DOUBLE, &value)); });
}

void H5File::set_attribute(const std::string& object, const std::string& name, std::int64_t value) {
  require_writable("set_attribute");
  write_attribute(id_, path_, object, name, H5T_NATIVE_INT64,
                  [&](hid_t attr) { TW_CHECK(H5Awrite(attr, H5T_NATIVE_INT64, &value)); });
}

bool H5File::has_attribute(const std::string& object, const std::string& name) const {
  if (snapshot_) {
    auto on = snapshot_->attributes.find(snapshot_key(object));
    return on != snapshot_->attributes.end() && on->second.count(name);
  }
  hid_t obj = H5Oopen(id_, object_name(object), H5P_DEFAULT);
  if (obj < 0) return false;
  bool found = H5Aexists(obj, name.c_str()) > 0;
  H5Oclose(obj);
  return found;
}

namespace {

Handle open_attribute(hid_t file, const std::string& path, const std::string& object, const std::string& name) {
  hid_t obj_id = H5Oopen(file, object_name(object), H5P_DEFAULT);
  if (obj_id < 0) throw IoError(cat(path, ": object '", object_name(object), "' not found"));
  Handle obj(obj_id, H5Oclose);
  if (H5Aexists(obj, name.c_str()) <= 0)
    throw IoError(cat(path, ": attribute '", name, "' of '", object_name(object), "' not found"));
  return Handle(TW_CHECK(H5Aopen(obj, name.c_str(), H5P_DEFAULT)), H5Aclose);
}

}  // namespace

namespace {

// Attributes tweedie reads hold one value (scalar or a single element); anything else would overrun
// the single value the reads below provide.
void require_one_value(hid_t attr, const std::string& path, const std::string& object, const std::string& name) {
  Handle space(TW_CHECK(H5Aget_space(attr)), H5Sclose);
  hssize_t count = H5Sget_simple_extent_npoints(space);
  if (count != 1)
    throw IoError(cat(path, ": attribute '", name, "' of '", object_name(object), "' holds ", count,
                      " values; one was expected"));
}

constexpr std::size_t kMaxStringAttribute = std::size_t(16) << 20;

}  // namespace

std::string H5File::string_attribute(const std::string& object, const std::string& name) const {
  if (snapshot_) {
    const H5Snapshot::Attribute& a = find_attribute(*snapshot_, path_, object, name);
    if (!a.is_string) throw IoError(cat(attribute_label(path_, object, name), " is not a string"));
    if (!a.error.empty()) throw IoError(a.error);
    return a.text;
  }
  Handle attr = open_attribute(id_, path_, object, name);
  Handle type(TW_CHECK(H5Aget_type(attr)), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING)
    throw IoError(cat(attribute_label(path_, object, name), " is not a string"));
  require_one_value(attr, path_, object, name);
  if (H5Tis_variable_str(type) > 0) {  // h5py's default for str attributes
    Handle memtype(TW_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
    TW_CHECK(H5Tset_size(memtype, H5T_VARIABLE));
    TW_CHECK(H5Tset_cset(memtype, H5Tget_cset(type)));  // HDF5 will not convert between ASCII and UTF-8
    char* value = nullptr;
    TW_CHECK(H5Aread(attr, memtype, &value));
    std::string out = value ? value : "";
    H5free_memory(value);
    return out;
  }
  std::size_t size = H5Tget_size(type);
  if (size == 0 || size > kMaxStringAttribute)
    throw IoError(cat(path_, ": attribute '", name, "' of '", object_name(object), "' is a string of ", size,
                      " bytes; at most ", kMaxStringAttribute, " are read"));
  std::string out(size, '\0');
  TW_CHECK(H5Aread(attr, type, out.data()));
  out.resize(out.find('\0') == std::string::npos ? out.size() : out.find('\0'));
  return out;
}

double H5File::number_attribute(const std::string& object, const std::string& name) const {
  if (snapshot_) {
    const H5Snapshot::Attribute& a = find_attribute(*snapshot_, path_, object, name);
    if (!a.is_number) throw IoError(cat(attribute_label(path_, object, name), " is not a number"));
    if (!a.error.empty()) throw IoError(a.error);
    return a.number;
  }
  Handle attr = open_attribute(id_, path_, object, name);
  Handle type(TW_CHECK(H5Aget_type(attr)), H5Tclose);
  H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw IoError(cat(attribute_label(path_, object, name), " is not a number"));
  require_one_value(attr, path_, object, name);
  double value = 0;
  TW_CHECK(H5Aread(attr, H5T_NATIVE_DOUBLE, &value));
  return value;
}

}  // namespace tweedie

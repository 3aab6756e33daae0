// NumPy .npy arrays and .npz archives of them, following numpy/lib/format.py's description of the
// format: the magic "\x93NUMPY", a version, a header length (2 bytes in version 1, 4 in versions 2
// and 3), then a Python dict literal with the keys 'descr', 'fortran_order' and 'shape', padded with
// spaces and a newline; the array's bytes follow. The header is parsed by a strict little parser for
// exactly that literal, never evaluated.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "io/checkpoint_readers.h"
#include "io/zip_archive.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

// A value in the header dict: a string, a boolean or a tuple of non-negative integers.
struct HeaderValue {
  enum Kind { string, boolean, tuple } kind = string;
  std::string text;
  bool flag = false;
  std::vector<std::int64_t> numbers;
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  // The dict's entries in the order they appear.
  std::vector<std::pair<std::string, HeaderValue>> parse_dict() {
    std::vector<std::pair<std::string, HeaderValue>> items;
    expect('{');
    while (!consume('}')) {
      std::string key = parse_string();
      expect(':');
      if (key == "descr" && peek() == '[')
        fail("structured dtypes (a list as 'descr') are not supported; save plain numeric arrays");
      items.emplace_back(std::move(key), parse_value());
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the header dict");
    return items;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw IoError(cat(what_, ": malformed .npy header: ", problem, " (header: ", text_.substr(0, 200), ")"));
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  char peek() {
    skip_space();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  void expect(char c) {
    if (!consume(c)) fail(cat("expected '", c, "'"));
  }

  // A quoted string without escapes: numpy's descr strings and key names never need them.
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t close = text_.find(quote, ++pos_);
    if (close == std::string_view::npos) fail("unterminated string");
    std::string s(text_.substr(pos_, close - pos_));
    if (s.find('\\') != std::string::npos) fail("escapes in strings are not supported");
    pos_ = close + 1;
    return s;
  }

  bool consume_word(std::string_view word) {
    skip_space();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::int64_t parse_integer() {
    skip_space();
    const std::size_t start = pos_;
    std::int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_++] - '0';
      if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) fail("a dimension does not fit in 64 bits");
      value = value * 10 + digit;
    }
    if (pos_ == start) fail("expected a non-negative integer in 'shape'");
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 wrote long integers as 3L
    return value;
  }

  HeaderValue parse_value() {
    HeaderValue v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.text = parse_string();
    } else if (consume_word("True")) {
      v.kind = HeaderValue::boolean;
      v.flag = true;
    } else if (consume_word("False")) {
      v.kind = HeaderValue::boolean;
    } else if (consume('(')) {
      v.kind = HeaderValue::tuple;
      while (!consume(')')) {
        v.numbers.push_back(parse_integer());
        if (!consume(',')) {
          expect(')');
          break;
        }
      }
    } else {
      fail("expected a string, True, False or a tuple");
    }
    return v;
  }

  std::string_view text_;
  const std::string& what_;
  std::size_t pos_ = 0;
};

struct Header {
  std::string descr;
  ElementType type = ElementType::f32;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

// The element type a descr such as "<f4" names, and whether its bytes need swapping. The byte order
// '=' means the writer's native order; it is taken as little-endian, like every host tweedie supports.
void decode_descr(Header& header, const std::string& what) {
  const std::string& d = header.descr;
  struct Known {
    const char* code;
    ElementType type;
  };
  static constexpr Known known[] = {{"f2", ElementType::f16}, {"f4", ElementType::f32}, {"f8", ElementType::f64},
                                    {"i1", ElementType::i8},  {"u1", ElementType::u8},  {"i2", ElementType::i16},
                                    {"i4", ElementType::i32}, {"i8", ElementType::i64}, {"b1", ElementType::boolean}};
  if (d.size() >= 2 && std::string_view("<>=|").find(d[0]) != std::string_view::npos) {
    for (const Known& k : known) {
      if (d.compare(1, std::string::npos, k.code) != 0) continue;
      const bool single_byte = element_size(k.type) == 1;
      if (d[0] == '|' && !single_byte) break;  // a multi-byte type must state its byte order
      header.type = k.type;
      header.big_endian = d[0] == '>' && !single_byte;
      return;
    }
  }
  throw IoError(cat(what, ": unsupported NumPy dtype '", d,
                    "'; supported are f2, f4, f8, i1, u1, i2, i4, i8 and b1 (object, string, complex, unsigned wider "
                    "than one byte and structured dtypes are not)"));
}

Header parse_header(std::string_view text, const std::string& what) {
  Header header;
  bool have_descr = false, have_order = false, have_shape = false;
  for (auto& item : HeaderParser(text, what).parse_dict()) {
    // Named references rather than a structured binding: clang before 16 cannot capture bindings.
    const std::string& key = item.first;
    const HeaderValue& value = item.second;
    auto require = [&](HeaderValue::Kind kind, bool& seen, const char* kind_name) {
      if (seen) throw IoError(cat(what, ": malformed .npy header: key '", key, "' appears twice"));
      if (value.kind != kind) throw IoError(cat(what, ": malformed .npy header: '", key, "' must be ", kind_name));
      seen = true;
    };
    if (key == "descr") {
      require(HeaderValue::string, have_descr, "a string");
      header.descr = value.text;
    } else if (key == "fortran_order") {
      require(HeaderValue::boolean, have_order, "True or False");
      header.fortran_order = value.flag;
    } else if (key == "shape") {
      require(HeaderValue::tuple, have_shape, "a tuple of integers");
      header.shape = value.numbers;
    } else {
      throw IoError(cat(what, ": malformed .npy header: unknown key '", key, "'"));
    }
  }
  if (!have_descr || !have_order || !have_shape)
    throw IoError(cat(what, ": malformed .npy header: it needs the keys 'descr', 'fortran_order' and 'shape'"));
  decode_descr(header, what);
  return header;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += cat(i ? ", " : "", shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

void swap_bytes(std::vector<std::uint8_t>& data, std::size_t item) {
  for (std::size_t at = 0; at + item <= data.size(); at += item)
    std::reverse(data.begin() + at, data.begin() + at + item);
}

// Column-major (Fortran) element order to row-major: walks the row-major index like an odometer, keeping
// the column-major offset of the same element alongside.
std::vector<std::uint8_t> fortran_to_c(const std::vector<std::uint8_t>& in, const std::vector<std::int64_t>& shape,
                                       std::size_t item) {
  const std::size_t rank = shape.size();
  if (rank < 2 || in.empty()) return in;
  std::vector<std::uint8_t> out(in.size());
  std::vector<std::int64_t> stride(rank), index(rank, 0);  // column-major strides in elements
  std::int64_t s = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    stride[d] = s;
    s *= shape[d];
  }
  std::int64_t source = 0;
  for (std::size_t at = 0; at < out.size(); at += item) {
    std::memcpy(&out[at], &in[std::size_t(source) * item], item);
    for (std::size_t d = rank; d-- > 0;) {  // the last index moves fastest in row-major order
      source += stride[d];
      if (++index[d] < shape[d]) break;
      source -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace

RawTensor read_npy(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  if (bytes.size() < 10 || std::string_view(reinterpret_cast<const char*>(bytes.data()), kMagic.size()) != kMagic)
    throw IoError(cat(what, ": not a NumPy .npy file (no \\x93NUMPY magic)"));
  const int major = bytes[6];
  std::uint64_t header_length = 0, header_start = 0;
  if (major == 1) {
    std::uint16_t n;
    std::memcpy(&n, &bytes[8], 2);  // little-endian in the file and on the host
    header_length = n, header_start = 10;
  } else if (major == 2 || major == 3) {  // 3 only allows UTF-8 in the header, which is irrelevant here
    if (bytes.size() < 12) throw IoError(cat(what, ": .npy file truncated inside its preamble"));
    std::uint32_t n;
    std::memcpy(&n, &bytes[8], 4);
    header_length = n, header_start = 12;
  } else {
    throw IoError(cat(what, ": unsupported .npy format version ", major, ".", int(bytes[7])));
  }
  if (header_length > bytes.size() - header_start)
    throw IoError(
        cat(what, ": .npy header of ", header_length, " bytes extends past the end of the file (truncated?)"));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + header_start), header_length);
  Header header = parse_header(text, what);

  RawTensor t;
  t.type = header.type;
  t.shape = header.shape;
  const std::size_t item = element_size(t.type);
  const std::int64_t numel = checked_numel(t.shape, item, what);
  const std::uint64_t want = std::uint64_t(numel) * item;
  const std::uint64_t have = bytes.size() - header_start - header_length;
  if (have < want)
    throw IoError(cat(what, ": truncated: shape ", shape_text(t.shape), " of ", header.descr, " needs ", want,
                      " bytes of data, the file has ", have));
  if (have > want)
    throw IoError(cat(what, ": ", have - want, " unexpected bytes after the data of shape ", shape_text(t.shape),
                      " of ", header.descr));
  t.data.assign(bytes.end() - std::ptrdiff_t(want), bytes.end());
  if (header.big_endian) swap_bytes(t.data, item);
  if (header.fortran_order) t.data = fortran_to_c(t.data, t.shape, item);
  return t;
}

TensorDict read_npz(const std::string& path) { return read_npz(ZipArchive::open(path)); }

TensorDict read_npz(const ZipArchive& archive) {
  const std::string& path = archive.path();
  constexpr std::string_view suffix = ".npy";
  TensorDict tensors;
  for (const ZipArchive::Entry& entry : archive.entries()) {
    const std::string& name = entry.name;
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      throw IoError(
          cat(path, ": entry ", name, " is not a .npy array (an .npz archive holds only <name>.npy entries)"));
    tensors[name.substr(0, name.size() - suffix.size())] = read_npy(archive.read(name), cat(path, ": entry ", name));
  }
  return tensors;
}

}  // namespace tweedie

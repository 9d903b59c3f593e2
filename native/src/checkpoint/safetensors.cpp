// Reading safetensors files through mmap, the C++ twin of checkpoint/safetensors.ts: the same strict header
// rules (checkpoint/README.md, "The safetensors format as read and written here") with the same wording, each
// message prefixed with the file. The header is validated before any tensor byte is touched, because a loader
// that trusts a bad header reads another tensor's bytes or past the end of the mapping. Tensors are read in
// place from the mapping and converted to fp32 on request (F16 and BF16 exactly, as dtype.ts does).
#include "checkpoint/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/json.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; read_f32 copies it as is");

namespace od {

namespace {

// The reference implementation refuses headers above 100 MB; a larger length is a corrupt or hostile file.
constexpr uint64_t MAX_HEADER_BYTES = 100000000;
constexpr double MAX_SAFE_INTEGER = 9007199254740991.0;  // 2^53 - 1, the offsets JSON numbers hold exactly

struct DtypeSize {
  const char* name;
  int bytes;
};
// Every dtype of the format, in the order the TypeScript lists them (the error lists them the same way).
constexpr DtypeSize DTYPES[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1},
                                {"I16", 2},  {"U16", 2}, {"F16", 2},  {"BF16", 2},    {"I32", 4},
                                {"U32", 4},  {"F32", 4}, {"F64", 8},  {"I64", 8},     {"U64", 8}};

int dtype_size(std::string_view name) {
  for (const DtypeSize& d : DTYPES)
    if (name == d.name) return d.bytes;
  return 0;
}

std::string known_dtypes() {
  std::string out;
  for (const DtypeSize& d : DTYPES) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); i++) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// A JSON value written back compactly for a message (JSON.stringify's role in safetensors.ts).
std::string describe(const json::Value& v) {
  switch (v.type) {
    case json::Value::Type::Null:
      return "null";
    case json::Value::Type::Bool:
      return v.boolean ? "true" : "false";
    case json::Value::Type::Number: {
      char buf[32];
      if (std::floor(v.number) == v.number && std::fabs(v.number) <= MAX_SAFE_INTEGER)
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v.number));
      else
        std::snprintf(buf, sizeof buf, "%.17g", v.number);
      return buf;
    }
    case json::Value::Type::String: {
      std::string out = "\"";
      for (char c : v.string) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      return out + "\"";
    }
    case json::Value::Type::Array: {
      std::string out = "[";
      for (size_t i = 0; i < v.array.size(); i++) out += (i ? "," : "") + describe(v.array[i]);
      return out + "]";
    }
    case json::Value::Type::Object: {
      std::string out = "{";
      for (size_t i = 0; i < v.object.size(); i++) {
        json::Value key;
        key.type = json::Value::Type::String;
        key.string = v.object[i].first;
        out += (i ? "," : "") + describe(key) + ":" + describe(v.object[i].second);
      }
      return out + "}";
    }
  }
  return "?";
}

bool is_offset(const json::Value& v) {
  return v.is_number() && v.number >= 0 && v.number <= MAX_SAFE_INTEGER && std::floor(v.number) == v.number;
}

// The byte offset of the first invalid UTF-8 sequence, or -1. Strict as TextDecoder's fatal mode: no overlong
// forms, no surrogates, nothing above U+10FFFF.
int64_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t b = p[i];
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (b < 0x80) len = 1;
    else if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;  // overlong
      if (b == 0xED) hi = 0x9F;  // surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;  // overlong
      if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return static_cast<int64_t>(i);
    }
    if (i + len > n) return static_cast<int64_t>(i);
    for (size_t k = 1; k < len; k++) {
      const uint8_t c = p[i + k];
      if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return static_cast<int64_t>(i);
    }
    i += len;
  }
  return -1;
}

// prod(shape) * size, or false when it does not fit 64 bits (then it cannot equal any offset difference).
bool byte_count(const std::vector<int64_t>& shape, int size, uint64_t* out) {
  uint64_t n = static_cast<uint64_t>(size);
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  *out = n;
  return true;
}

}  // namespace

static uint32_t f32_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

// dtype.ts f32ToBf16: round to nearest even; NaN stays a quiet NaN.
uint16_t f32_to_bf16(float x) {
  const uint32_t bits = f32_bits(x);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffffu) != 0) return static_cast<uint16_t>((bits >> 16) | 0x40);
  // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry may reach infinity, which is right.
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
}

// dtype.ts f32ToF16: round to nearest even, overflow to infinity, fp16 subnormals rounded too.
uint16_t f32_to_f16(float x) {
  const uint32_t bits = f32_bits(x);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const int32_t exp = static_cast<int32_t>((bits >> 23) & 0xff);
  const uint32_t mant = bits & 0x7fffff;
  if (exp == 0xff) return static_cast<uint16_t>(mant == 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >> 13));
  const int32_t e = exp - 112;  // rebiased for fp16 (15 instead of 127)
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    // fp16 subnormal: the significand shifted right by 14 - e; below e = -10 it rounds to zero.
    if (e < -10) return static_cast<uint16_t>(sign);
    const uint32_t significand = mant | 0x800000;
    const int shift = 14 - e;
    uint32_t half = significand >> shift;
    const uint32_t rest = significand & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1))) half += 1;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and the largest finite values up to infinity).
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half += 1;
  return static_cast<uint16_t>(sign | half);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // infinity, or a NaN keeping its payload
  } else if (exp == 0) {
    // Subnormal (or zero): mant * 2^-24, exact in fp32 (both factors are, and the product needs 10 bits).
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t b) {
  // bf16 is the upper half of an fp32.
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const std::string where = "checkpoint " + path;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) OD_FAIL(where + ": cannot open: " + std::strerror(errno), "");
  // The constructor does not finish when validation fails, so the destructor will not run: undo here.
  try {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) OD_FAIL(where + ": cannot stat: " + std::strerror(errno), "");
    if (!S_ISREG(st.st_mode)) OD_FAIL(where + ": not a regular file", "");
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ < 8) OD_FAIL(where + ": the file has " + std::to_string(size_) + " bytes, fewer than the 8 of the header length", "");
    void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (m == MAP_FAILED) OD_FAIL(where + ": cannot mmap " + std::to_string(size_) + " bytes: " + std::strerror(errno), "");
    map_ = static_cast<const uint8_t*>(m);
    // The mapping stays valid without the descriptor; closing it now keeps one fewer open per checkpoint.
    ::close(fd_);
    fd_ = -1;

    uint64_t n = 0;
    std::memcpy(&n, map_, 8);
    if (n > MAX_HEADER_BYTES)
      OD_FAIL(where + ": the header length " + std::to_string(n) + " is above the format's limit of " +
                  std::to_string(MAX_HEADER_BYTES) + " bytes",
              "is this a safetensors file?");
    if (8 + n > size_)
      OD_FAIL(where + ": the header length " + std::to_string(n) + " runs past the end of the file (" +
                  std::to_string(size_) + " bytes)",
              "the file is truncated or not a safetensors file");
    data_start_ = 8 + n;
    const uint64_t data_bytes = size_ - data_start_;
    const std::string_view text(reinterpret_cast<const char*>(map_ + 8), n);
    // The format requires `{` first; trailing spaces are the writer's alignment padding, which JSON allows.
    if (text.empty() || text[0] != '{') OD_FAIL(where + ": the header must be a JSON object starting with `{`", "");
    const int64_t bad = invalid_utf8_at(text);
    if (bad >= 0) OD_FAIL(where + ": the header is not valid UTF-8 (at byte " + std::to_string(bad) + " of the JSON)", "");
    json::Value header;
    try {
      header = json::parse(text);
    } catch (const std::exception& e) {
      throw Error(where + ": the header is not valid JSON: " + e.what());
    }
    // JSON that starts with `{` and parses is an object.

    for (const auto& [name, value] : header.object) {
      if (name == "__metadata__") {
        if (!value.is_object()) OD_FAIL(where + ": `__metadata__` must be an object of strings", "");
        for (const auto& [k, v] : value.object)
          if (!v.is_string()) OD_FAIL(where + ": `__metadata__` entry `" + k + "` must be a string, not " + describe(v), "");
        continue;
      }
      const std::string at = where + ": tensor `" + name + "`";
      if (!value.is_object()) OD_FAIL(at + ": its header entry must be an object with dtype, shape and data_offsets", "");
      for (const auto& member : value.object)
        if (member.first != "dtype" && member.first != "shape" && member.first != "data_offsets")
          OD_FAIL(at + ": unknown field `" + member.first + "`", "");
      const json::Value* dtype = value.find("dtype");
      const json::Value* shape = value.find("shape");
      const json::Value* offsets = value.find("data_offsets");
      const int size = dtype && dtype->is_string() ? dtype_size(dtype->string) : 0;
      if (size == 0)
        OD_FAIL(at + ": unknown dtype " + (dtype ? describe(*dtype) : std::string("(missing)")) + " (known: " + known_dtypes() + ")", "");
      if (!shape || !shape->is_array() || !std::all_of(shape->array.begin(), shape->array.end(), is_offset))
        OD_FAIL(at + ": shape must be a list of non-negative integers, not " + (shape ? describe(*shape) : std::string("(missing)")), "");
      if (!offsets || !offsets->is_array() || offsets->array.size() != 2 || !is_offset(offsets->array[0]) || !is_offset(offsets->array[1]))
        OD_FAIL(at + ": data_offsets must be two non-negative integers [begin, end], not " +
                    (offsets ? describe(*offsets) : std::string("(missing)")),
                "");
      SafetensorsEntry e;
      e.name = name;
      e.dtype = dtype->string;
      for (const json::Value& d : shape->array) e.shape.push_back(static_cast<int64_t>(d.number));
      e.begin = static_cast<uint64_t>(offsets->array[0].number);
      e.end = static_cast<uint64_t>(offsets->array[1].number);
      const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
      if (e.end < e.begin) OD_FAIL(at + ": data_offsets " + range + " end before they begin", "");
      uint64_t expected = 0;
      const bool fits = byte_count(e.shape, size, &expected);
      if (!fits || e.end - e.begin != expected)
        OD_FAIL(at + ": data_offsets " + range + " hold " + std::to_string(e.end - e.begin) + " bytes, but " + e.dtype + " " +
                    format_shape(e.shape) + " needs " + (fits ? std::to_string(expected) : std::string("more than 2^64")),
                "");
      tensors_.push_back(std::move(e));
    }

    // Sorting by offset (zero-byte tensors before the one they sit in front of) turns "no gaps and no overlap"
    // into "each begins where the previous ended". Stable, so equal ranges keep header order as in the TS.
    std::stable_sort(tensors_.begin(), tensors_.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t cursor = 0;
    const SafetensorsEntry* previous = nullptr;
    for (const SafetensorsEntry& t : tensors_) {
      const std::string at = where + ": tensor `" + t.name + "`";
      const std::string range = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
      if (t.begin < cursor)
        OD_FAIL(at + ": data_offsets " + range + " overlap tensor `" + previous->name + "` [" + std::to_string(previous->begin) +
                    ", " + std::to_string(previous->end) + "]",
                "");
      if (t.begin > cursor)
        OD_FAIL(at + ": data_offsets begin at " + std::to_string(t.begin) + ", leaving bytes " + std::to_string(cursor) + ".." +
                    std::to_string(t.begin) + " " + (previous ? "after tensor `" + previous->name + "`" : std::string("at the start of the data")) +
                    " unused",
                "");
      if (t.end > data_bytes)
        OD_FAIL(at + ": data_offsets " + range + " run past the end of the data (" + std::to_string(data_bytes) + " bytes): the file is truncated",
                "an interrupted download or copy? fetch the file again");
      cursor = t.end;
      previous = &t;
    }
    if (cursor != data_bytes) {
      const std::string left = std::to_string(data_bytes - cursor);
      OD_FAIL(where + ": " + (previous ? "the data section has " + left + " bytes after the last tensor `" + previous->name + "` that no tensor covers"
                                       : "the data section has " + left + " bytes but the header lists no tensors"),
              "");
    }
  } catch (...) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
    if (fd_ >= 0) ::close(fd_);
    map_ = nullptr;
    fd_ = -1;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
  if (fd_ >= 0) ::close(fd_);
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  for (const SafetensorsEntry& e : tensors_)
    if (e.name == name) return &e;
  return nullptr;
}

const uint8_t* SafetensorsFile::data(const SafetensorsEntry& e) const { return map_ + data_start_ + e.begin; }

void SafetensorsFile::read_f32(const SafetensorsEntry& e, float* out) const {
  const uint8_t* p = data(e);
  const uint64_t bytes = e.end - e.begin;
  // The data start is 8-aligned only when the writer padded the header; memcpy makes any alignment safe.
  if (e.dtype == "F32") {
    if (bytes > 0) std::memcpy(out, p, bytes);
  } else if (e.dtype == "F16" || e.dtype == "BF16") {
    const bool f16 = e.dtype == "F16";
    for (uint64_t i = 0; i < bytes / 2; i++) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
  } else if (e.dtype == "I32") {
    for (uint64_t i = 0; i < bytes / 4; i++) {
      int32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      out[i] = static_cast<float>(v);
    }
  } else {
    OD_FAIL("checkpoint " + path_ + ": tensor `" + e.name + "` has dtype " + e.dtype + ", which has no conversion to fp32",
            "the runtime reads F32, F16 and BF16 weights (and I32 as float)");
  }
}

void SafetensorsFile::read_i32(const SafetensorsEntry& e, int32_t* out) const {
  OD_CHECK(e.dtype == "I32", "checkpoint " + path_ + ": tensor `" + e.name + "` has dtype " + e.dtype + ", expected I32", "");
  if (e.end > e.begin) std::memcpy(out, data(e), e.end - e.begin);
}

}  // namespace od

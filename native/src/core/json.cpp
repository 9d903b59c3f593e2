// The JSON parser and path-tracking reader of json.h: a strict RFC 8259 recursive-descent parser (no comments,
// no trailing commas, no duplicate keys, no lone surrogates, no invalid UTF-8, no trailing garbage) that reads
// plans (compiler/plan/types.ts, serialized by the compiler's canonical JSON writer) and safetensors headers.
// Strictness is deliberate: a plan is machine-written, so anything irregular means a corrupt or foreign file,
// and it is better to say where than to run on a guess. Errors carry the byte offset; Reader errors the JSON
// path (`plan.program.step[41].rows`), which is what a user can find in the file.
#include "core/json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__has_include)
#if __has_include(<charconv>)
#include <charconv>
#endif
#endif

#include "core/error.h"

namespace od::json {

namespace {

// Deep enough for any plan (which nests about 6 levels); shallow enough that the recursion cannot overflow a
// thread's stack on hostile input.
constexpr int kMaxDepth = 512;

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Value document() {
    skip_space();
    Value v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail_here("unexpected " + describe_char() + " after the end of the document");
    return v;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;

  [[noreturn]] void fail_at(size_t at, const std::string& what) const {
    OD_FAIL("JSON at byte " + std::to_string(at) + ": " + what, "");
  }
  [[noreturn]] void fail_here(const std::string& what) const { fail_at(pos_, what); }

  // The character at pos_, as a message names it.
  std::string describe_char() const {
    if (pos_ >= s_.size()) return "end of input";
    unsigned char c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
  }

  void skip_space() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_literal(const char* word, size_t length) {
    if (s_.compare(pos_, length, word) != 0) fail_here("unexpected " + describe_char() + " (expected a value)");
    pos_ += length;
  }

  Value value(int depth) {
    if (pos_ >= s_.size()) fail_here("unexpected end of input (expected a value)");
    Value v;
    switch (s_[pos_]) {
      case '{':
        object(v, depth + 1);
        break;
      case '[':
        array(v, depth + 1);
        break;
      case '"':
        v.type = Value::Type::String;
        v.string = string();
        break;
      case 't':
        expect_literal("true", 4);
        v.type = Value::Type::Bool;
        v.boolean = true;
        break;
      case 'f':
        expect_literal("false", 5);
        v.type = Value::Type::Bool;
        break;
      case 'n':
        expect_literal("null", 4);
        break;
      default:
        v.type = Value::Type::Number;
        v.number = number();
        break;
    }
    return v;
  }

  void enter(int depth) const {
    if (depth > kMaxDepth) fail_here("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
  }

  void object(Value& v, int depth) {
    enter(depth);
    v.type = Value::Type::Object;
    ++pos_;  // '{'
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return;
    }
    std::vector<size_t> key_at;  // byte offset of each key, for the duplicate message
    for (;;) {
      if (pos_ >= s_.size() || s_[pos_] != '"') fail_here("unexpected " + describe_char() + " (expected a string key)");
      key_at.push_back(pos_);
      std::string key = string();
      // Small objects (every object of a plan) check duplicates as they go; large ones sort once at the end.
      if (v.object.size() < 16) {
        for (const auto& member : v.object)
          if (member.first == key) fail_at(key_at.back(), "duplicate key \"" + key + "\"");
      }
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != ':') fail_here("unexpected " + describe_char() + " (expected ':')");
      ++pos_;
      skip_space();
      v.object.emplace_back(std::move(key), value(depth));
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        skip_space();
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        break;
      }
      fail_here("unexpected " + describe_char() + " (expected ',' or '}')");
    }
    if (v.object.size() > 16) {
      std::vector<size_t> order(v.object.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        int c = v.object[a].first.compare(v.object[b].first);
        return c < 0 || (c == 0 && a < b);
      });
      for (size_t i = 1; i < order.size(); ++i)
        if (v.object[order[i]].first == v.object[order[i - 1]].first)
          fail_at(key_at[order[i]], "duplicate key \"" + v.object[order[i]].first + "\"");
    }
  }

  void array(Value& v, int depth) {
    enter(depth);
    v.type = Value::Type::Array;
    ++pos_;  // '['
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return;
    }
    for (;;) {
      v.array.push_back(value(depth));
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        skip_space();
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        break;
      }
      fail_here("unexpected " + describe_char() + " (expected ',' or ']')");
    }
  }

  unsigned hex4() {
    if (s_.size() - pos_ < 4) fail_here("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_];
      unsigned d;
      if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
      else fail_here("invalid hex digit " + describe_char() + " in a \\u escape");
      code = code * 16 + d;
      ++pos_;
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  // One UTF-8 sequence starting at pos_ (a byte >= 0x80), validated per RFC 3629: no overlong forms, no
  // surrogates, nothing above U+10FFFF. Returns its length.
  size_t utf8_length() const {
    const auto* p = reinterpret_cast<const unsigned char*>(s_.data()) + pos_;
    size_t left = s_.size() - pos_;
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c == 0xe0) n = 3, lo = 0xa0;
    else if (c >= 0xe1 && c <= 0xec) n = 3;
    else if (c == 0xed) n = 3, hi = 0x9f;
    else if (c >= 0xee && c <= 0xef) n = 3;
    else if (c == 0xf0) n = 4, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3) n = 4;
    else if (c == 0xf4) n = 4, hi = 0x8f;
    else fail_here("invalid UTF-8 in a string");
    if (left < n || p[1] < lo || p[1] > hi) fail_here("invalid UTF-8 in a string");
    for (size_t i = 2; i < n; ++i)
      if ((p[i] & 0xc0) != 0x80) fail_here("invalid UTF-8 in a string");
    return n;
  }

  std::string string() {
    size_t start = pos_;
    ++pos_;  // '"'
    std::string out;
    for (;;) {
      // Copy the run of plain characters in one go: most strings have no escapes.
      size_t run = pos_;
      while (pos_ < s_.size()) {
        unsigned char c = static_cast<unsigned char>(s_[pos_]);
        if (c == '"' || c == '\\' || c < 0x20) break;
        if (c >= 0x80) pos_ += utf8_length();
        else ++pos_;
      }
      out.append(s_.data() + run, pos_ - run);
      if (pos_ >= s_.size()) fail_at(start, "unterminated string");
      char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c != '\\') fail_here("unescaped control character " + describe_char() + " in a string");
      ++pos_;
      if (pos_ >= s_.size()) fail_at(start, "unterminated string");
      char e = s_[pos_];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          size_t escape = pos_ - 1;
          ++pos_;
          unsigned code = hex4();
          if (code >= 0xdc00 && code <= 0xdfff) fail_at(escape, "lone low surrogate in a \\u escape");
          if (code >= 0xd800 && code <= 0xdbff) {
            // A high surrogate must be followed by an escaped low one; together they name one code point.
            if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
              fail_at(escape, "high surrogate not followed by a low surrogate");
            pos_ += 2;
            unsigned low = hex4();
            if (low < 0xdc00 || low > 0xdfff) fail_at(escape, "high surrogate not followed by a low surrogate");
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          }
          append_utf8(out, code);
          continue;  // pos_ is already past the escape
        }
        default:
          if (e >= 0x20 && e < 0x7f) fail_at(pos_ - 1, std::string("invalid escape \\") + e + " in a string");
          fail_at(pos_ - 1, "invalid escape: a backslash followed by " + describe_char());
      }
      ++pos_;
    }
  }

  // A number per the RFC grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?. The lexeme is checked
  // here and converted separately, so the converter never sees (or accepts) anything else ("+1", "01", ".5",
  // "1.", "Infinity", hex).
  double number() {
    size_t start = pos_;
    auto digit = [&](size_t i) { return i < s_.size() && s_[i] >= '0' && s_[i] <= '9'; };
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (!digit(pos_)) {
      pos_ = start;
      fail_here("unexpected " + describe_char() + " (expected a value)");
    }
    if (s_[pos_] == '0') {
      ++pos_;
      if (digit(pos_)) fail_here("leading zero in a number");
    } else {
      while (digit(pos_)) ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digit(pos_)) fail_here("expected a digit after the decimal point");
      while (digit(pos_)) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digit(pos_)) fail_here("expected a digit in the exponent");
      while (digit(pos_)) ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    double out = 0;
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
    // from_chars: exact, and independent of the C locale (a host process may have set a ',' decimal point).
    auto [end, ec] = std::from_chars(first, last, out);
    if (ec == std::errc::result_out_of_range || end != last) {
      // libstdc++ reports underflow to 0 or a subnormal as out of range too; only overflow is an error.
      std::string lexeme(first, last);
      out = std::strtod(lexeme.c_str(), nullptr);
      if (std::isinf(out)) fail_at(start, "number " + lexeme + " is out of the range of a double");
    }
#else
    std::string lexeme(first, last);
    out = std::strtod(lexeme.c_str(), nullptr);
    if (std::isinf(out)) fail_at(start, "number " + lexeme + " is out of the range of a double");
#endif
    return out;
  }
};

const char* type_phrase(const Value& v) {
  switch (v.type) {
    case Value::Type::Null: return "null";
    case Value::Type::Bool: return "a boolean";
    case Value::Type::Number: return "a number";
    case Value::Type::String: return "a string";
    case Value::Type::Array: return "an array";
    case Value::Type::Object: return "an object";
  }
  return "?";
}

// A number as a message shows it: the shortest %g form that reads back as the same double.
std::string format_number(double x) {
  char buf[40];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

}  // namespace

const Value* Value::find(std::string_view key) const {
  if (type != Type::Object) return nullptr;
  for (const auto& member : object)
    if (member.first == key) return &member.second;
  return nullptr;
}

Value parse(std::string_view text) { return Parser(text).document(); }

// ---- Reader ----

void Reader::fail(const std::string& what) const { OD_FAIL(path_ + ": " + what, ""); }

bool Reader::has(std::string_view key) const {
  if (!value_->is_object()) fail(std::string("expected an object, got ") + type_phrase(*value_));
  const Value* member = value_->find(key);
  return member && !member->is_null();
}

Reader Reader::at(std::string_view key) const {
  if (!value_->is_object()) fail(std::string("expected an object, got ") + type_phrase(*value_));
  const Value* member = value_->find(key);
  if (!member) fail("missing the field \"" + std::string(key) + "\"");
  std::string path;
  path.reserve(path_.size() + 1 + key.size());
  path.append(path_).append(1, '.').append(key);
  return Reader(*member, std::move(path));
}

Reader Reader::at(size_t index) const {
  if (!value_->is_array()) fail(std::string("expected an array, got ") + type_phrase(*value_));
  if (index >= value_->array.size())
    fail("index " + std::to_string(index) + " is past the end of the array (" + std::to_string(value_->array.size()) +
         " elements)");
  return Reader(value_->array[index], path_ + "[" + std::to_string(index) + "]");
}

size_t Reader::size() const {
  if (!value_->is_array()) fail(std::string("expected an array, got ") + type_phrase(*value_));
  return value_->array.size();
}

std::vector<std::string> Reader::keys() const {
  if (!value_->is_object()) fail(std::string("expected an object, got ") + type_phrase(*value_));
  std::vector<std::string> out;
  out.reserve(value_->object.size());
  for (const auto& member : value_->object) out.push_back(member.first);
  return out;
}

double Reader::number() const {
  if (!value_->is_number()) fail(std::string("expected a number, got ") + type_phrase(*value_));
  return value_->number;
}

int64_t Reader::integer() const {
  if (!value_->is_number()) fail(std::string("expected an integer, got ") + type_phrase(*value_));
  double x = value_->number;
  // JavaScript's safe integers, |x| < 2^53: from 2^53 on doubles skip integers, so the value read may not be the
  // one written (9007199254740993 reads as 2^53).
  constexpr double kLimit = 9007199254740992.0;
  if (x != std::floor(x)) fail("expected an integer, got " + format_number(x));
  if (x >= kLimit || x <= -kLimit) fail("expected an integer within +-(2^53 - 1), got " + format_number(x));
  return static_cast<int64_t>(x);
}

bool Reader::boolean() const {
  if (!value_->is_bool()) fail(std::string("expected a boolean, got ") + type_phrase(*value_));
  return value_->boolean;
}

const std::string& Reader::string() const {
  if (!value_->is_string()) fail(std::string("expected a string, got ") + type_phrase(*value_));
  return value_->string;
}

}  // namespace od::json

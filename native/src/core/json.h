// A small JSON document model and strict parser (RFC 8259): enough for plans and safetensors headers, with
// errors that give the byte offset. Numbers are doubles (plans hold only safe integers and float64 values).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace od::json {

struct Value {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  // Members in document order; duplicate keys are a parse error.
  std::vector<std::pair<std::string, Value>> object;

  bool is_null() const { return type == Type::Null; }
  bool is_object() const { return type == Type::Object; }
  bool is_array() const { return type == Type::Array; }
  bool is_string() const { return type == Type::String; }
  bool is_number() const { return type == Type::Number; }
  bool is_bool() const { return type == Type::Bool; }
  // The member `key` of an object, or nullptr (also when this is not an object).
  const Value* find(std::string_view key) const;
};

// Parses a whole document; trailing non-space is an error. Throws od::Error "JSON at byte N: <what>".
Value parse(std::string_view text);

// Navigates a document with the path in every message: `plan.program.step[41].rows: expected an integer`.
// Holds a pointer to the value, which must outlive it.
class Reader {
 public:
  Reader(const Value& value, std::string path) : value_(&value), path_(std::move(path)) {}
  const Value& value() const { return *value_; }
  const std::string& path() const { return path_; }
  bool has(std::string_view key) const;  // a member that is present and not null
  Reader at(std::string_view key) const;  // required member
  Reader at(size_t index) const;          // required array element
  size_t size() const;                    // array length (an array is required)
  std::vector<std::string> keys() const;  // object keys in order (an object is required)
  double number() const;
  int64_t integer() const;  // a number with an exact integer value in the safe range
  bool boolean() const;
  const std::string& string() const;
  // Fails with `<path>: <what>`.
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const Value* value_;
  std::string path_;
};

}  // namespace od::json

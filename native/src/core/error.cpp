#include "core/error.h"

#include <cstring>

namespace od {

[[noreturn]] void fail(const char* file, int line, const std::string& what, const std::string& hint) {
  // Keep the path from native/ on: builds put absolute paths in __FILE__.
  const char* at = std::strstr(file, "native/");
  std::string message = what;
  if (!hint.empty()) message += " (hint: " + hint + ")";
  message += " [" + std::string(at ? at : file) + ":" + std::to_string(line) + "]";
  throw Error(message);
}

}  // namespace od

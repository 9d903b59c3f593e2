// Errors of the native runtime: one exception type whose message is what a user reads (the tensor, the op, the
// rank, the file), followed by a hint and the source position that raised it, for whoever fixes the code.
#pragma once
#include <stdexcept>
#include <string>

namespace od {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws od::Error("<what> (hint: <hint>) [native/src/<file>:<line>]"); an empty hint is left out.
[[noreturn]] void fail(const char* file, int line, const std::string& what, const std::string& hint = "");

// Prefixes the message of an od::Error (or any std::exception) thrown by `run` with `context + ": "`.
template <class F>
void with_context(const std::string& context, F&& run);

}  // namespace od

// OD_CHECK(cond, what, hint): fails with `what` and `hint` when cond is false. `what` and `hint` are
// std::string expressions evaluated only on failure.
#define OD_CHECK(cond, what, hint)                              \
  do {                                                          \
    if (!(cond)) ::od::fail(__FILE__, __LINE__, (what), (hint)); \
  } while (0)

#define OD_FAIL(what, hint) ::od::fail(__FILE__, __LINE__, (what), (hint))

namespace od {
template <class F>
void with_context(const std::string& context, F&& run) {
  try {
    run();
  } catch (const std::exception& e) {
    throw Error(context + ": " + e.what());
  }
}
}  // namespace od

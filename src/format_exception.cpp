// format_exception(): the text Python prints for an uncaught exception without traceback
// (Lib/traceback.py: TracebackException.format with its _ExceptionPrintContext), used by
// run_main() for the last words of a program.

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>

#include "asyncio/exceptions.hpp"

namespace asyncio {

namespace {

// Python's TracebackException defaults.
constexpr std::size_t kMaxGroupWidth = 15;
constexpr int kMaxGroupDepth = 10;

std::string demangle(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

/// Python prints builtins by their bare name; the library's exception types mirror Python's
/// names, so they lose their namespace. Other types keep theirs (Python prints module.Name).
std::string python_type_name(const std::type_info& type) {
  std::string name = demangle(type);
  constexpr std::string_view kOurs = "asyncio::";
  if (name.starts_with(kOurs) && name.find("::", kOurs.size()) == std::string::npos) {
    name.erase(0, kOurs.size());
  }
  return name;
}

/// Python's format_exception_only: "Type: message", or "Type" for an empty message. Several
/// what() strings already start with their type name (the defaults of TimeoutError,
/// CancelledError, KeyboardInterrupt): it is not repeated.
std::string one_line(const std::type_info& type, std::string_view message) {
  const std::string name = python_type_name(type);
  const std::string full = demangle(type);
  for (const std::string& n : {full, name}) {
    if (message == n) return name;
    if (message.starts_with(n + ": ")) message.remove_prefix(n.size() + 2);
  }
  if (message.empty()) return name;
  return name + ": " + std::string(message);
}

/// Python's _ExceptionPrintContext: the current exception-group depth and whether the closing
/// rule of a group is still owed.
struct Printer {
  std::string out;
  int depth = 0;
  bool need_close = false;

  std::string indent() const { return std::string(2 * static_cast<std::size_t>(depth), ' '); }

  /// Appends each line of `text`, behind the "| " margin inside a group.
  void emit(std::string_view text) {
    const std::string prefix = depth > 0 ? indent() + "| " : std::string();
    while (!text.empty()) {
      std::size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      out += prefix;
      out += line;
      out += '\n';
      text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    }
  }

  void format(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      format_group(g);
    } catch (const std::exception& x) {
      emit(one_line(typeid(x), x.what()));
    } catch (const CancelledError& c) {
      emit(one_line(typeid(c), c.message()));
    } catch (...) {
      // Any other type (KeyboardInterrupt, a thrown int, ...): its name, no message.
      const std::type_info* type = abi::__cxa_current_exception_type();
      emit(type != nullptr ? one_line(*type, "") : std::string("unknown exception"));
    }
  }

  void format_group(const ExceptionGroup& g) {
    if (depth > kMaxGroupDepth) {
      emit("... (max_group_depth is " + std::to_string(kMaxGroupDepth) + ")");
      return;
    }
    const bool top_level = depth == 0;
    if (top_level) ++depth;
    const auto& subs = g.exceptions();
    const std::size_t count = subs.size();
    emit(python_type_name(typeid(g)) + ": " + g.message() + " (" + std::to_string(count) +
         (count == 1 ? " sub-exception)" : " sub-exceptions)"));
    const std::size_t shown = count > kMaxGroupWidth ? kMaxGroupWidth + 1 : count;
    for (std::size_t i = 0; i < shown; ++i) {
      const bool last = i + 1 == shown;
      if (last) need_close = true;
      const bool truncated = i >= kMaxGroupWidth;
      const std::string title = truncated ? "..." : std::to_string(i + 1);
      out +=
          indent() + (i == 0 ? "+-" : "  ") + "+---------------- " + title + " ----------------\n";
      ++depth;
      if (!truncated) {
        format(subs[i]);
      } else {
        const std::size_t remaining = count - kMaxGroupWidth;
        emit("and " + std::to_string(remaining) + " more exception" + (remaining > 1 ? "s" : ""));
      }
      if (last && need_close) {
        out += indent() + "+------------------------------------\n";
        need_close = false;
      }
      --depth;
    }
    if (top_level) depth = 0;
  }
};

}  // namespace

std::string format_exception(const std::exception_ptr& e) {
  if (!e) return "NoneType: None\n";  // Python: traceback.print_exception(None)
  Printer p;
  p.format(e);
  return std::move(p.out);
}

}  // namespace asyncio

// Python's repr() texts for the library's objects (see asyncio/repr.hpp).

#include "asyncio/repr.hpp"

#include <cxxabi.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <typeinfo>

#include "asyncio/net_errors.hpp"

namespace asyncio {

namespace {

/// The library's exception types print with Python's names: their own, without `asyncio::`;
/// other types keep their C++ name (Python prints module.Name for non-builtins).
std::string python_type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  std::string name = status == 0 && demangled ? demangled.get() : type.name();
  constexpr std::string_view kOurs = "asyncio::";
  if (name.starts_with(kOurs) && name.find("::", kOurs.size()) == std::string::npos) {
    name.erase(0, kOurs.size());
  }
  return name;
}

/// A what() that starts with its own type name ("asyncio::TimeoutError: ...") loses it, as in
/// format_exception().
std::string_view own_message(const std::type_info& type, std::string_view message) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  const std::string full = status == 0 && demangled ? demangled.get() : type.name();
  for (const std::string& n : {full, python_type_name(type)}) {
    if (message == n) return {};
    if (message.starts_with(n + ": ")) message.remove_prefix(n.size() + 2);
  }
  return message;
}

/// Python's str.__repr__ escapes for one byte of UTF-8 text (non-ASCII bytes pass through:
/// Python shows printable non-ASCII characters as they are).
void append_escaped(std::string& out, unsigned char c, char quote) {
  switch (c) {
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (c == static_cast<unsigned char>(quote)) {
    out += '\\';
    out += static_cast<char>(c);
  } else if (c < 0x20 || c == 0x7f) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += buf;
  } else {
    out += static_cast<char>(c);
  }
}

}  // namespace

std::string repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) append_escaped(out, static_cast<unsigned char>(c), quote);
  out += quote;
  return out;
}

std::string repr(const std::exception_ptr& e) {
  if (!e) return "None";
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError& c) {
    return c.message().empty() ? "CancelledError()" : "CancelledError(" + repr(c.message()) + ")";
  } catch (const std::exception& x) {
    return detail::exception_repr(x);
  } catch (...) {
    return "<unknown exception>";
  }
}

namespace detail {

std::string exception_repr(const std::exception& e) {
  const std::string name = python_type_name(typeid(e));
  if (const auto* group = dynamic_cast<const ExceptionGroup*>(&e)) {
    std::string list;
    for (const auto& x : group->exceptions()) {
      if (!list.empty()) list += ", ";
      list += asyncio::repr(x);
    }
    return name + "(" + asyncio::repr(group->message()) + ", [" + list + "])";
  }
  if (const auto* os = dynamic_cast<const OSError*>(&e); os != nullptr && !os->message_only()) {
    // Python: args are (errno, strerror); the filename is not among them.
    return name + "(" + std::to_string(os->error_number()) + ", " + asyncio::repr(os->strerror()) +
           ")";
  }
  const std::string_view message = own_message(typeid(e), e.what());
  if (message.empty()) return name + "()";
  return name + "(" + asyncio::repr(message) + ")";
}

std::string short_repr(std::string_view s) {
  // Python's reprlib.Repr.repr_str with maxstring=30.
  constexpr std::size_t kMax = 30;
  std::string full = asyncio::repr(s.substr(0, kMax));
  if (full.size() <= kMax) return full;
  const std::size_t i = (kMax - 3) / 2;
  const std::size_t j = kMax - 3 - i;
  std::string joined(s.substr(0, i));
  joined += s.substr(s.size() - std::min(j, s.size()));
  std::string quoted = asyncio::repr(joined);
  return quoted.substr(0, i) + "..." + quoted.substr(quoted.size() - j);
}

std::string float_repr(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string out(buf, ec == std::errc() ? end : buf);
  if (out.find_first_of(".eEn") == std::string::npos) out += ".0";  // "n": inf and nan
  return out;
}

std::string future_repr(const FutureBase& f, const std::string* name, const std::string& result) {
  std::string out = name ? "<Task " : "<Future ";
  const auto* task = name ? static_cast<const TaskBase*>(&f) : nullptr;
  if (task && !f.done() && task->cancelling() > 0) {
    out += "cancelling";
  } else if (f.cancelled()) {
    out += "cancelled";
  } else {
    out += f.done() ? "finished" : "pending";
  }
  if (name) out += " name=" + asyncio::repr(*name);
  if (f.done() && !f.cancelled()) {
    const std::exception_ptr& e = f.peek_exception();
    out += e ? " exception=" + asyncio::repr(e) : " result=" + result;
  }
  return out + ">";
}

std::string queue_str(const char* type, const QueueCore& q, const std::string& items) {
  // Python's Queue.__str__: "<Queue maxsize=..." then _queue, _getters, _putters, tasks.
  std::string out = std::string("<") + type + " maxsize=" + std::to_string(q.maxsize());
  if (!items.empty()) out += " _queue=" + items;
  if (q.waiting_getters() > 0) out += " _getters[" + std::to_string(q.waiting_getters()) + "]";
  if (q.waiting_putters() > 0) out += " _putters[" + std::to_string(q.waiting_putters()) + "]";
  if (q.unfinished_tasks() > 0) out += " tasks=" + std::to_string(q.unfinished_tasks());
  return out + ">";
}

}  // namespace detail

std::ostream& operator<<(std::ostream& os, const AnyTask& t) {
  if (t.impl() == nullptr) return os << "<uninitialized>";
  const std::string name = t.impl()->name();
  return os << detail::future_repr(*t.impl(), &name, "...");
}

std::ostream& operator<<(std::ostream& os, const Handle& h) {
  return os << (h.cancelled() ? "<Handle cancelled>" : "<Handle>");
}

std::ostream& operator<<(std::ostream& os, const TimerHandle& h) {
  // Python: `when=` follows "cancelled" when there is one.
  return os << "<TimerHandle " << (h.cancelled() ? "cancelled " : "")
            << "when=" << detail::float_repr(h.when()) << ">";
}

std::ostream& operator<<(std::ostream& os, const Lock& x) {
  return os << x.repr();
}
std::ostream& operator<<(std::ostream& os, const Event& x) {
  return os << x.repr();
}
std::ostream& operator<<(std::ostream& os, const Condition& x) {
  return os << x.repr();
}
std::ostream& operator<<(std::ostream& os, const Semaphore& x) {
  return os << x.repr();
}
std::ostream& operator<<(std::ostream& os, const Barrier& x) {
  return os << x.repr();
}
std::ostream& operator<<(std::ostream& os, const CancelledError& e) {
  return os << (e.message().empty() ? std::string("CancelledError()")
                                    : "CancelledError(" + repr(e.message()) + ")");
}

}  // namespace asyncio

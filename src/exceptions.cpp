#include "asyncio/exceptions.hpp"

namespace asyncio {

ExceptionGroup::ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions)
    : message_(std::move(message)), exceptions_(std::move(exceptions)) {
  what_ = message_ + " (" + std::to_string(exceptions_.size()) +
          (exceptions_.size() == 1 ? " sub-exception)" : " sub-exceptions)");
  for (const auto& e : exceptions_) what_ += "\n  - " + describe(e);
}

std::string describe(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError& c) {
    return c.message().empty() ? "CancelledError" : "CancelledError: " + c.message();
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace asyncio

namespace asyncio::detail {

/// The ExceptionGroup `e` holds, or null. The pointer lives as long as `e`'s exception.
const ExceptionGroup* as_group(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    return &g;
  } catch (...) {
    return nullptr;
  }
}

bool is_cancelled_error(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError&) {
    return true;
  } catch (...) {
    return false;
  }
}
}  // namespace asyncio::detail

namespace asyncio {

namespace {

using Matcher = bool (*)(const std::exception_ptr&, void* ctx);

void split_children(const ExceptionGroup& g, Matcher match, void* ctx, bool with_rest,
                    std::vector<std::exception_ptr>& matched,
                    std::vector<std::exception_ptr>& rest);

/// CPython's exceptiongroup_split_recursive for one sub-exception: a match is taken whole; a
/// nested group that does not match is split in turn and rebuilt with its own message.
void split_one(const std::exception_ptr& e, Matcher match, void* ctx, bool with_rest,
               std::exception_ptr& matched, std::exception_ptr& rest) {
  if (match(e, ctx)) {
    matched = e;
    return;
  }
  const ExceptionGroup* g = detail::as_group(e);
  if (g == nullptr) {
    if (with_rest) rest = e;
    return;
  }
  std::vector<std::exception_ptr> m, r;
  split_children(*g, match, ctx, with_rest, m, r);
  if (!m.empty()) matched = std::make_exception_ptr(g->derive(std::move(m)));
  if (!r.empty()) rest = std::make_exception_ptr(g->derive(std::move(r)));
}

void split_children(const ExceptionGroup& g, Matcher match, void* ctx, bool with_rest,
                    std::vector<std::exception_ptr>& matched,
                    std::vector<std::exception_ptr>& rest) {
  for (const auto& sub : g.exceptions()) {
    std::exception_ptr m, r;
    split_one(sub, match, ctx, with_rest, m, r);
    if (m) matched.push_back(std::move(m));
    if (r) rest.push_back(std::move(r));
  }
}

}  // namespace

std::pair<std::optional<ExceptionGroup>, std::optional<ExceptionGroup>> ExceptionGroup::split_impl(
    Matcher match, void* ctx, bool with_rest) const {
  std::pair<std::optional<ExceptionGroup>, std::optional<ExceptionGroup>> out;
  // The condition is asked about the group itself first (Python: a whole match is `self`).
  if (match(std::make_exception_ptr(*this), ctx)) {
    out.first.emplace(*this);
    return out;
  }
  std::vector<std::exception_ptr> m, r;
  split_children(*this, match, ctx, with_rest, m, r);
  if (!m.empty()) out.first.emplace(derive(std::move(m)));
  if (!r.empty()) out.second.emplace(derive(std::move(r)));
  return out;
}

}  // namespace asyncio

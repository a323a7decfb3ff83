// The non-template half of except_star(): Python's _PyExc_PrepReraiseStar.

#include "asyncio/except_star.hpp"

#include <algorithm>

namespace asyncio::detail {

namespace {

/// Appends the leaves (non-group exceptions) of `e`, depth first.
void collect_leaves(const std::exception_ptr& e, std::vector<std::exception_ptr>& out) {
  if (const ExceptionGroup* g = as_group(e)) {
    for (const auto& sub : g->exceptions()) collect_leaves(sub, out);
  } else {
    out.push_back(e);
  }
}

}  // namespace

ExceptStar::ExceptStar(std::exception_ptr e) : orig_(std::move(e)) {
  if (const ExceptionGroup* g = as_group(orig_)) {
    rest_.emplace(*g);
  } else {
    naked_ = true;  // Python wraps a plain exception to match it
    rest_.emplace(ExceptionGroup("", {orig_}));
  }
}

void ExceptStar::record(std::exception_ptr thrown, const std::exception_ptr& part) {
  // `throw;` in the handler rethrows the very object `part` holds: a re-raise.
  if (thrown == part) {
    reraised_.push_back(std::move(thrown));
  } else {
    raised_.push_back(std::move(thrown));
  }
}

void ExceptStar::finish() {
  if (!matched_any_) std::rethrow_exception(orig_);  // no clause matched: unchanged
  if (naked_) {
    // Only one clause can have run on a wrapped plain exception: its outcome, if any.
    if (!raised_.empty()) std::rethrow_exception(raised_.front());
    if (!reraised_.empty()) std::rethrow_exception(reraised_.front());
    return;
  }
  if (raised_.empty() && reraised_.empty()) {
    if (rest_) throw ExceptionGroup(std::move(*rest_));
    return;
  }
  // What is kept from the original (re-raised parts and the unhandled rest), by leaf identity,
  // rebuilt in the original's structure.
  std::vector<std::exception_ptr> keep;
  for (const auto& part : reraised_) collect_leaves(part, keep);
  if (rest_) collect_leaves(std::make_exception_ptr(*rest_), keep);
  std::optional<ExceptionGroup> kept;
  if (!keep.empty()) {
    kept = as_group(orig_)->subgroup([&](const std::exception_ptr& e) {
      return as_group(e) == nullptr && std::find(keep.begin(), keep.end(), e) != keep.end();
    });
  }
  std::vector<std::exception_ptr> result = std::move(raised_);
  if (kept) result.push_back(std::make_exception_ptr(std::move(*kept)));
  if (result.size() == 1) std::rethrow_exception(result.front());
  throw ExceptionGroup("", std::move(result));
}

}  // namespace asyncio::detail

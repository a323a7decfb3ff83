// A minimal intrusive doubly-linked list: O(1) push, unlink and emptiness test, no allocation.
//
// Invariant: a node is linked into at most one list at a time; an unlinked node has
// next == prev == nullptr, so `linked()` and a second `unlink()` are safe.
#pragma once

namespace asyncio::detail {

struct ListNode {
  ListNode* prev = nullptr;
  ListNode* next = nullptr;

  bool linked() const noexcept { return next != nullptr; }
  void unlink() noexcept {
    if (!next) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

/// Circular list with a sentinel head. T must derive from ListNode.
template <class T>
class IntrusiveList {
 public:
  IntrusiveList() noexcept { head_.prev = head_.next = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const noexcept { return head_.next == &head_; }

  void push_back(T* t) noexcept {
    ListNode* n = t;
    n->prev = head_.prev;
    n->next = &head_;
    head_.prev->next = n;
    head_.prev = n;
  }

  T* front() const noexcept { return empty() ? nullptr : static_cast<T*>(head_.next); }

  T* pop_front() noexcept {
    if (empty()) return nullptr;
    ListNode* n = head_.next;
    n->unlink();
    return static_cast<T*>(n);
  }

  /// Calls f(T*) for each element in order; f may unlink the element it is given.
  template <class F>
  void for_each(F&& f) {
    for (ListNode* n = head_.next; n != &head_;) {
      ListNode* next = n->next;
      f(static_cast<T*>(n));
      n = next;
    }
  }

  std::size_t size() const noexcept {
    std::size_t k = 0;
    for (const ListNode* n = head_.next; n != &head_; n = n->next) ++k;
    return k;
  }

 private:
  ListNode head_;
};

}  // namespace asyncio::detail

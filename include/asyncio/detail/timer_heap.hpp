// The loop's timers: a 4-ary min-heap ordered by (deadline, sequence number).
//
// Entries are intrusive (a sleeping task's entry lives in its coroutine frame) and remember
// their heap index, so cancelling a timer removes it in O(log n) at once: cancelled timers
// never accumulate, unlike the lazy deletion of CPython's heapq-based scheduler. The sequence
// number makes timers with equal deadlines fire in scheduling order, as asyncio guarantees.
//
// Invariants:
//   - slots_[i].when_ns == slots_[i].entry->when_ns and slots_[i].entry->heap_index == i;
//   - no slot is less than its parent (slot (i - 1) / 4).
// Why this shape: with a million sleepers the heap is far bigger than the caches, and a heap
// of bare entry pointers pays a cache miss per comparison to read each deadline. Here the
// deadline sits in the slot beside the pointer (16 bytes), so the four children of a node
// share one 64-byte line and a sift compares them without touching the entries; only equal
// deadlines read the entries' sequence numbers. Four children also halve the depth.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace asyncio::detail {

struct TimerEntry {
  static constexpr std::uint32_t kNotScheduled = UINT32_MAX;

  std::int64_t when_ns = 0;  // deadline, steady-clock nanoseconds
  // Scheduling order, for equal deadlines. 32 bits, compared modulo 2^32: two timers due at
  // the same nanosecond are ordered correctly unless 2^31 other timers were scheduled between
  // them.
  std::uint32_t seq = 0;
  std::uint32_t heap_index = kNotScheduled;
  // On expiry, {run, this entry} is pushed onto the ready queue (see ReadyItem for the
  // contract). Owners inherit TimerEntry and static_cast the argument back: no context pointer
  // to store, which keeps a sleeping task's frame within its pool class.
  void (*run)(void* entry, bool discard) = nullptr;

  bool scheduled() const noexcept { return heap_index != kNotScheduled; }
};

class TimerHeap {
 public:
  bool empty() const noexcept { return slots_.empty(); }
  std::size_t size() const noexcept { return slots_.size(); }
  /// Precondition: !empty().
  TimerEntry* top() const noexcept { return slots_.front().entry; }
  std::int64_t top_when_ns() const noexcept { return slots_.front().when_ns; }

  /// Precondition: !e->scheduled(); e->when_ns and e->seq are set.
  void push(TimerEntry* e) {
    slots_.push_back({e->when_ns, e});
    sift_up(slots_.size() - 1, slots_.back());
  }

  /// Precondition: e->scheduled() and e is in this heap.
  void remove(TimerEntry* e) noexcept {
    const std::size_t i = e->heap_index;
    const Slot last = slots_.back();
    slots_.pop_back();
    e->heap_index = TimerEntry::kNotScheduled;
    if (last.entry == e) return;
    if (i > 0 && less(last, slots_[parent(i)])) {
      sift_up(i, last);
    } else {
      sift_down(i, last);
    }
  }

  /// Precondition: !empty().
  TimerEntry* pop() noexcept {
    TimerEntry* e = top();
    remove(e);
    return e;
  }

  /// Gives back memory after a burst of timers (called when the heap is empty).
  void shrink() {
    if (slots_.empty() && slots_.capacity() > 1024) std::vector<Slot>().swap(slots_);
  }

 private:
  struct Slot {
    std::int64_t when_ns;
    TimerEntry* entry;
  };

  static constexpr std::size_t kArity = 4;
  static std::size_t parent(std::size_t i) noexcept { return (i - 1) / kArity; }

  static bool less(const Slot& a, const Slot& b) noexcept {
    if (a.when_ns != b.when_ns) return a.when_ns < b.when_ns;
    return static_cast<std::int32_t>(a.entry->seq - b.entry->seq) < 0;
  }
  void place(std::size_t i, const Slot& s) noexcept {
    slots_[i] = s;
    s.entry->heap_index = static_cast<std::uint32_t>(i);
  }
  /// Moves the hole at `i` up until `s` fits, then puts `s` there.
  void sift_up(std::size_t i, Slot s) noexcept {
    while (i > 0) {
      const std::size_t p = parent(i);
      if (!less(s, slots_[p])) break;
      place(i, slots_[p]);
      i = p;
    }
    place(i, s);
  }
  /// Moves the hole at `i` down until `s` fits, then puts `s` there.
  void sift_down(std::size_t i, Slot s) noexcept {
    const std::size_t n = slots_.size();
    for (;;) {
      const std::size_t first = kArity * i + 1;
      if (first >= n) break;
      const std::size_t end = first + kArity < n ? first + kArity : n;
      std::size_t best = first;
      for (std::size_t c = first + 1; c < end; ++c) {
        if (less(slots_[c], slots_[best])) best = c;
      }
      if (!less(slots_[best], s)) break;
      place(i, slots_[best]);
      i = best;
    }
    place(i, s);
  }

  std::vector<Slot> slots_;
};

}  // namespace asyncio::detail

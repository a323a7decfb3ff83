// The loop's timers: a binary min-heap ordered by (deadline, sequence number).
//
// Entries are intrusive (a sleeping task's entry lives in its coroutine frame) and remember
// their heap index, so cancelling a timer removes it in O(log n) at once: cancelled timers
// never accumulate, unlike the lazy deletion of CPython's heapq-based scheduler. The sequence
// number makes timers with equal deadlines fire in scheduling order, as asyncio guarantees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace asyncio::detail {

struct TimerEntry {
  static constexpr std::size_t kNotScheduled = static_cast<std::size_t>(-1);

  std::int64_t when_ns = 0;  // deadline, steady-clock nanoseconds
  std::uint64_t seq = 0;     // tie-breaker: scheduling order
  std::size_t heap_index = kNotScheduled;
  // On expiry, {run, arg} is pushed onto the ready queue (see ReadyItem for the contract).
  void (*run)(void* arg, bool discard) = nullptr;
  void* arg = nullptr;

  bool scheduled() const noexcept { return heap_index != kNotScheduled; }
};

class TimerHeap {
 public:
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  TimerEntry* top() const noexcept { return heap_.front(); }

  void push(TimerEntry* e) {
    e->heap_index = heap_.size();
    heap_.push_back(e);
    sift_up(e->heap_index);
  }

  /// Precondition: e->scheduled() and e is in this heap.
  void remove(TimerEntry* e) noexcept {
    std::size_t i = e->heap_index;
    TimerEntry* last = heap_.back();
    heap_.pop_back();
    e->heap_index = TimerEntry::kNotScheduled;
    if (last == e) return;
    place(i, last);
    if (i > 0 && less(last, heap_[(i - 1) / 2])) {
      sift_up(i);
    } else {
      sift_down(i);
    }
  }

  TimerEntry* pop() noexcept {
    TimerEntry* e = heap_.front();
    remove(e);
    return e;
  }

  /// Gives back memory after a burst of timers (called when the heap is empty).
  void shrink() {
    if (heap_.empty() && heap_.capacity() > 1024) std::vector<TimerEntry*>().swap(heap_);
  }

 private:
  static bool less(const TimerEntry* a, const TimerEntry* b) noexcept {
    return a->when_ns < b->when_ns || (a->when_ns == b->when_ns && a->seq < b->seq);
  }
  void place(std::size_t i, TimerEntry* e) noexcept {
    heap_[i] = e;
    e->heap_index = i;
  }
  void sift_up(std::size_t i) noexcept {
    TimerEntry* e = heap_[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (!less(e, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void sift_down(std::size_t i) noexcept {
    TimerEntry* e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && less(heap_[child + 1], heap_[child])) ++child;
      if (!less(heap_[child], e)) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, e);
  }

  std::vector<TimerEntry*> heap_;
};

}  // namespace asyncio::detail

// The loop's FIFO of ready callbacks: a growable ring buffer of (function, argument) pairs.
//
// A plain function pointer plus a context pointer is the cheapest callable there is: waking a
// task is one store into this ring, with no allocation once the ring has grown to the working
// set. Owners of `arg` guarantee it stays alive until the item runs or is discarded.
//
// Every item is called exactly once: `run(arg, false)` to run it, or `run(arg, true)` when the
// loop closes with the item still queued, so that the item can release what it owns.
#pragma once

#include <cstddef>
#include <memory>

namespace asyncio::detail {

struct ReadyItem {
  void (*run)(void* arg, bool discard);
  void* arg;
};

class ReadyQueue {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  void push(ReadyItem item) {
    if (size_ == capacity_) grow();
    buffer_[(head_ + size_) & (capacity_ - 1)] = item;
    ++size_;
  }

  /// Frees the ring if it is empty and was grown past kKeptCapacity by a burst (a million tasks
  /// created at once). Called when the loop goes idle, so that a program that spawned many
  /// tasks once does not keep 16 bytes per task for good; a loop that stays busy keeps its
  /// ring and never pays for regrowing it.
  void release_burst_capacity() noexcept {
    if (size_ == 0 && capacity_ > kKeptCapacity) {
      buffer_.reset();
      capacity_ = 0;
      head_ = 0;
    }
  }

  /// Precondition: !empty().
  ReadyItem pop() noexcept {
    ReadyItem item = buffer_[head_];
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
    return item;
  }

 private:
  static constexpr std::size_t kKeptCapacity = 1 << 16;  // 1 MiB of items

  void grow() {
    std::size_t new_capacity = capacity_ ? capacity_ * 2 : 64;
    auto next = std::make_unique<ReadyItem[]>(new_capacity);
    for (std::size_t i = 0; i < size_; ++i) next[i] = buffer_[(head_ + i) & (capacity_ - 1)];
    buffer_ = std::move(next);
    capacity_ = new_capacity;
    head_ = 0;
  }

  std::unique_ptr<ReadyItem[]> buffer_;
  std::size_t capacity_ = 0;  // always 0 or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace asyncio::detail

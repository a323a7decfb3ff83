// The per-thread small-block cache: slow paths (see pool_allocator.hpp).

#include "asyncio/detail/pool_allocator.hpp"

#include <new>

namespace asyncio::detail::pool {
namespace {

/// Frees the cached blocks when the thread exits.
struct Reaper {
  ~Reaper() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = cache.head[c]) {
        cache.head[c] = b->next;
        ::operator delete(b);
      }
      cache.room[c] = 0;  // closed: later frees go to the global allocator
    }
    cache.state = Cache::Reaped;
  }
};

}  // namespace

void* allocate_slow(std::size_t size) {
  const std::size_t c = class_of(size);
  // Blocks of a class all have the class's size, whichever request they serve later.
  return ::operator new(kEnabled&& c < kClasses ? class_bytes(c) : size);
}

void deallocate_slow(void* p, std::size_t size) noexcept {
  if (!p) return;
  const std::size_t c = class_of(size);
  if constexpr (kEnabled) {
    if (c < kClasses && cache.state == Cache::Fresh) {
      // The thread's first free: arrange for the cache to be emptied at thread exit, open
      // the lists, then cache the block. (A thread-local with a destructor cannot be
      // constinit.)
      static thread_local Reaper reaper;
      (void)reaper;
      cache.state = Cache::Live;
      for (std::size_t k = 0; k < kClasses; ++k) cache.room[k] = max_cached(k);
      auto* b = static_cast<FreeBlock*>(p);
      b->next = cache.head[c];
      cache.head[c] = b;
      --cache.room[c];
      return;
    }
  }
  ::operator delete(p);
}

}  // namespace asyncio::detail::pool

// A per-thread cache of small blocks for coroutine frames, tasks and futures.
//
// Spawning a task allocates a frame and a task state and frees both soon after; the generic
// allocator's bookkeeping was a fifth of that cost. This cache keeps freed blocks in per-size
// free lists (16-byte classes up to 504 bytes), bounded so that it never hoards much memory:
// past the bound, blocks go back to the global allocator. Blocks may be freed on a thread other
// than the one that allocated them: they simply join that thread's cache.
//
// The hit paths (pop or push one block) are inline: an await of a coroutine allocates and frees
// a frame, and a call into the library for that cost as much as the pop itself.
#pragma once

#include <cstddef>
#include <cstdint>

namespace asyncio::detail {

namespace pool {

inline constexpr std::size_t kGranule = 16;
inline constexpr std::size_t kClasses = 32;              // blocks up to 504 bytes
inline constexpr std::size_t kMaxCachedBytes = 1 << 20;  // per class: at most 1 MiB kept

// Under AddressSanitizer (and ThreadSanitizer) every block goes to the global allocator, so
// use-after-free and races on frames are caught instead of hidden by the cache.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kEnabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kEnabled = false;
#else
inline constexpr bool kEnabled = true;
#endif
#else
inline constexpr bool kEnabled = true;
#endif

struct FreeBlock {
  FreeBlock* next;
};

/// One per thread. Constant-initialised, so access needs no guard.
struct Cache {
  FreeBlock* head[kClasses];
  // How many more blocks each list may take (max_cached(c) minus the blocks in it). Zero
  // for every class until the thread's first free (which registers the exit-time reaper and
  // opens the lists) and again once the reaper ran (blocks freed during the rest of thread
  // exit go to the global allocator): the free path tests only this.
  std::uint32_t room[kClasses];
  enum State : std::uint8_t { Fresh, Live, Reaped } state;
};

inline constinit thread_local Cache cache{};

// Class c holds blocks of 16(c + 1) - 8 bytes: glibc's malloc adds an 8-byte header and
// rounds to 16, so a 120-byte block takes a 128-byte chunk, where a 128-byte one takes 144.
// Every block is one chunk of the global allocator, so it keeps its 16-byte alignment.
inline constexpr std::size_t kHeader = 8;
constexpr std::size_t class_of(std::size_t size) noexcept {
  return (size + kHeader + kGranule - 1) / kGranule - 1;
}
constexpr std::size_t class_bytes(std::size_t c) noexcept {
  return (c + 1) * kGranule - kHeader;
}
static_assert(class_of(120) == class_of(1 + 112) && class_bytes(class_of(120)) == 120);
static_assert(class_bytes(class_of(121)) == 136 && class_of(1) == 0 && class_bytes(0) == 8);
/// How many blocks of class c the cache keeps: their bytes stay under kMaxCachedBytes.
constexpr std::uint32_t max_cached(std::size_t c) noexcept {
  return static_cast<std::uint32_t>((kMaxCachedBytes - 1) / class_bytes(c) + 1);
}

/// Slow paths: the list is empty (allocate), or full (free), or the thread's first free.
void* allocate_slow(std::size_t size);
void deallocate_slow(void* p, std::size_t size) noexcept;

}  // namespace pool

inline void* pool_allocate(std::size_t size) {
  if constexpr (pool::kEnabled) {
    const std::size_t c = pool::class_of(size);
    if (c < pool::kClasses) {
      pool::Cache& cache = pool::cache;
      if (pool::FreeBlock* b = cache.head[c]) [[likely]] {
        cache.head[c] = b->next;
        ++cache.room[c];
        return b;
      }
    }
  }
  return pool::allocate_slow(size);
}

inline void pool_deallocate(void* p, std::size_t size) noexcept {
  if constexpr (pool::kEnabled) {
    const std::size_t c = pool::class_of(size);
    pool::Cache& cache = pool::cache;
    if (p != nullptr && c < pool::kClasses && cache.room[c] != 0) [[likely]] {
      auto* b = static_cast<pool::FreeBlock*>(p);
      b->next = cache.head[c];
      cache.head[c] = b;
      --cache.room[c];
      return;
    }
  }
  pool::deallocate_slow(p, size);
}

/// Inherit to give a class (and its subclasses) pooled operator new/delete. The sized delete
/// receives the dynamic size, so classes with virtual destructors work.
struct PoolAllocated {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { pool_deallocate(p, size); }
};

}  // namespace asyncio::detail

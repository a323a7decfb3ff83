// The per-thread small-block cache (see pool_allocator.hpp).

#include "asyncio/detail/pool_allocator.hpp"

#include <new>

namespace asyncio::detail {
namespace {

constexpr std::size_t kGranule = 16;
constexpr std::size_t kClasses = 32;               // blocks up to 512 bytes
constexpr std::size_t kMaxCachedBytes = 1 << 20;   // per class: at most 1 MiB kept

struct FreeBlock {
  FreeBlock* next;
};

struct Pool {
  FreeBlock* head[kClasses];
  std::size_t count[kClasses];
  bool registered;
};

constinit thread_local Pool pool{};

/// Frees the cached blocks when the thread exits.
struct PoolReaper {
  ~PoolReaper() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = pool.head[c]) {
        pool.head[c] = b->next;
        ::operator delete(b);
      }
      pool.count[c] = 0;
    }
  }
};

inline std::size_t class_of(std::size_t size) noexcept { return (size + kGranule - 1) / kGranule - 1; }

// Under AddressSanitizer (and ThreadSanitizer) every block goes to the global allocator, so
// use-after-free and races on frames are caught instead of hidden by the cache.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kPoolEnabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kPoolEnabled = false;
#else
constexpr bool kPoolEnabled = true;
#endif
#else
constexpr bool kPoolEnabled = true;
#endif

}  // namespace

void* pool_allocate(std::size_t size) {
  if constexpr (!kPoolEnabled) return ::operator new(size);
  const std::size_t c = class_of(size);
  if (c < kClasses) {
    if (FreeBlock* b = pool.head[c]) {
      pool.head[c] = b->next;
      --pool.count[c];
      return b;
    }
    return ::operator new((c + 1) * kGranule);
  }
  return ::operator new(size);
}

void pool_deallocate(void* p, std::size_t size) noexcept {
  if (!p) return;
  if constexpr (!kPoolEnabled) {
    ::operator delete(p, size);
    return;
  }
  const std::size_t c = class_of(size);
  if (c < kClasses && pool.count[c] * (c + 1) * kGranule < kMaxCachedBytes) {
    if (!pool.registered) {
      pool.registered = true;
      static thread_local PoolReaper reaper;
      (void)reaper;
    }
    auto* b = static_cast<FreeBlock*>(p);
    b->next = pool.head[c];
    pool.head[c] = b;
    ++pool.count[c];
    return;
  }
  ::operator delete(p);
}

}  // namespace asyncio::detail

// A per-thread cache of small blocks for coroutine frames, tasks and futures.
//
// Spawning a task allocates a frame and a task state and frees both soon after; the generic
// allocator's bookkeeping was a fifth of that cost. This cache keeps freed blocks in per-size
// free lists (16-byte classes up to 512 bytes), bounded so that it never hoards much memory:
// past the bound, blocks go back to the global allocator. Blocks may be freed on a thread other
// than the one that allocated them: they simply join that thread's cache.
#pragma once

#include <cstddef>

namespace asyncio::detail {

void* pool_allocate(std::size_t size);
void pool_deallocate(void* p, std::size_t size) noexcept;

/// Inherit to give a class (and its subclasses) pooled operator new/delete. The sized delete
/// receives the dynamic size, so classes with virtual destructors work.
struct PoolAllocated {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { pool_deallocate(p, size); }
};

}  // namespace asyncio::detail

// One allocation per task: a Coro's frame is allocated with room for a task state in front of
// it, so that create_task() constructs the task state in place instead of allocating it.
//
// Block layout (one pool block, 16-byte aligned):
//
//   [ TaskImpl<T> storage ... | FrameHeader ][ coroutine frame (resume, destroy, promise...) ]
//   ^ block                   ^ frame - 8    ^ frame: what operator new returns
//   <----------- TaskPrefix<T>::bytes ------->
//
// Every Coro<T> frame whose T is small (TaskPrefix<T>::embedded) is laid out so, whether or
// not it becomes a task: a coroutine that is only ever awaited carries the prefix unused
// (144 or 160 bytes of its block; only the header is written). Ownership of the block:
//   - no task adopted the frame (header.task_owned == 0): the frame's operator delete frees it;
//   - a task adopted it: the frame's operator delete leaves the block alone (the frame is still
//     destroyed when the coroutine finishes, as Python drops a finished coroutine's frame), and
//     the task state frees the whole block when its last reference goes (TaskImpl's operator
//     delete). The task state always outlives the frame: ~TaskBase destroys a frame still alive.
// A larger T keeps the two allocations (frame, then task state) rather than make every awaited
// frame of that type carry the value's room.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <type_traits>

#include "asyncio/detail/await_site.hpp"
#include "asyncio/detail/pool_allocator.hpp"

namespace asyncio::detail {

/// sizeof(TaskBase) (static_assert in task_base.hpp): the prefix is computed here, where
/// TaskBase is incomplete. 136 bytes with std::source_location (one pointer); AwaitSite is 24
/// bytes where the library lacks it (Clang 14 with libstdc++ 12).
inline constexpr std::size_t kTaskStateBytes = 128 + sizeof(AwaitSite);
/// Largest std::optional<T> kept inside the prefix: larger results use two allocations.
inline constexpr std::size_t kMaxEmbeddedValueBytes = 16;

/// Just in front of the frame; written when the frame is allocated.
struct FrameHeader {
  std::uint32_t frame_bytes;  // the size the compiler asked for
  std::uint32_t task_owned;   // nonzero once a task state lives in the prefix
};

constexpr std::size_t round_up(std::size_t n, std::size_t a) noexcept {
  return (n + a - 1) / a * a;
}

/// Room for TaskImpl<T> (TaskBase, then the value slot) and the header, a 16-byte multiple;
/// 0 when T is too large or over-aligned (two allocations then). Only two sizes, so that the
/// frame allocators below are plain classes: GCC 12 crashes (waccess pass) on some coroutine
/// templates whose promise has its operator new from a class template depending on T.
inline constexpr std::size_t kVoidTaskPrefix = round_up(kTaskStateBytes + sizeof(FrameHeader), 16);
inline constexpr std::size_t kSmallTaskPrefix =
    round_up(kTaskStateBytes + kMaxEmbeddedValueBytes + sizeof(FrameHeader), 16);
template <class T>
struct TaskPrefix {
  static constexpr bool embedded =
      sizeof(std::optional<T>) <= kMaxEmbeddedValueBytes && alignof(std::optional<T>) <= 8;
  static constexpr std::size_t bytes = embedded ? kSmallTaskPrefix : 0;
};
template <>
struct TaskPrefix<void> {
  static constexpr bool embedded = true;
  static constexpr std::size_t bytes = kVoidTaskPrefix;
};

inline FrameHeader* frame_header(void* frame) noexcept {
  return static_cast<FrameHeader*>(
      static_cast<void*>(static_cast<char*>(frame) - sizeof(FrameHeader)));
}

/// A frame of `size` bytes behind a prefix of `prefix` bytes (CoroPromise's operator new).
inline void* allocate_frame(std::size_t size, std::size_t prefix) {
  char* frame = static_cast<char*>(pool_allocate(prefix + size)) + prefix;
  ::new (static_cast<void*>(frame - sizeof(FrameHeader)))
      FrameHeader{static_cast<std::uint32_t>(size), 0};
  return frame;
}

/// CoroPromise's operator delete: frees the block unless a task state lives in it.
inline void deallocate_frame(void* frame, std::size_t size, std::size_t prefix) noexcept {
  if (frame_header(frame)->task_owned) return;  // the task state frees the block
  pool_deallocate(static_cast<char*>(frame) - prefix, prefix + size);
}

/// The promise's operator new/delete for a frame behind a prefix of Prefix bytes (0: none).
template <std::size_t Prefix>
struct FrameAllocation;
template <>
struct FrameAllocation<0> {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { pool_deallocate(p, size); }
};
template <>
struct FrameAllocation<kVoidTaskPrefix> {
  static void* operator new(std::size_t size) { return allocate_frame(size, kVoidTaskPrefix); }
  static void operator delete(void* p, std::size_t size) noexcept {
    deallocate_frame(p, size, kVoidTaskPrefix);
  }
};
template <>
struct FrameAllocation<kSmallTaskPrefix> {
  static void* operator new(std::size_t size) { return allocate_frame(size, kSmallTaskPrefix); }
  static void operator delete(void* p, std::size_t size) noexcept {
    deallocate_frame(p, size, kSmallTaskPrefix);
  }
};

}  // namespace asyncio::detail

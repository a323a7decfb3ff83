// Intrusive, non-atomic reference counting for objects owned by one event-loop thread.
//
// Futures and tasks are shared by handles (like Python objects) but never cross threads, so
// a plain integer count suffices; this keeps create_task/await free of atomic operations.
#pragma once

#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio::detail {

/// Whether T can really be copied. std::is_copy_constructible is true for containers of
/// move-only elements (their copy constructors are not constrained), so look inside them.
template <class T>
struct is_really_copyable : std::is_copy_constructible<T> {};
template <class T, class A>
struct is_really_copyable<std::vector<T, A>> : is_really_copyable<T> {};
template <class T>
struct is_really_copyable<std::optional<T>> : is_really_copyable<T> {};
template <class A, class B>
struct is_really_copyable<std::pair<A, B>>
    : std::bool_constant<is_really_copyable<A>::value && is_really_copyable<B>::value> {};
template <class... Ts>
struct is_really_copyable<std::tuple<Ts...>>
    : std::bool_constant<(is_really_copyable<Ts>::value && ...)> {};
template <class T>
inline constexpr bool is_really_copyable_v = is_really_copyable<T>::value;

/// Base of loop-thread objects shared by `Ref<T>` handles. Starts with a count of zero; the
/// object deletes itself when the last reference goes.
class RefCounted {
 public:
  RefCounted() = default;
  RefCounted(const RefCounted&) = delete;
  RefCounted& operator=(const RefCounted&) = delete;

  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) delete this;
  }
  std::uint32_t ref_count() const noexcept { return refs_; }

 protected:
  virtual ~RefCounted() = default;

 private:
  std::uint32_t refs_ = 0;
};

/// Owning pointer to a RefCounted object.
template <class T>
class Ref {
 public:
  Ref() noexcept = default;
  explicit Ref(T* p) noexcept : p_(p) {
    if (p_) p_->add_ref();
  }
  Ref(const Ref& o) noexcept : Ref(o.p_) {}
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <class U>
  Ref(const Ref<U>& o) noexcept : Ref(static_cast<T*>(o.get())) {}
  ~Ref() { reset(); }

  Ref& operator=(Ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }

  void reset() noexcept {
    if (T* p = std::exchange(p_, nullptr)) p->release();
  }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.p_ == b.p_; }

 private:
  T* p_ = nullptr;
};

}  // namespace asyncio::detail

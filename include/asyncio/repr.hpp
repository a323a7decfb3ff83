// asyncio/repr.hpp — printing the library's objects as Python's repr() shows them.
//
// `std::cout << task` prints what `print(repr(task))` prints in Python, minus what C++ cannot
// know (the coroutine's name and source line, the callbacks' names, object addresses):
//
//   Future      <Future pending>  <Future finished result=3>  <Future cancelled>
//               <Future finished exception=ValueError('bad')>
//   Task        <Task pending name='Task-1'>  <Task cancelling name='t'>
//               <Task finished name='t' result='ok'>  <Task cancelled name='t'>
//   Handle      <Handle>  <Handle cancelled>  <TimerHandle when=12.5>
//               <TimerHandle cancelled when=12.5>
//   Queue       <Queue maxsize=2 _queue=[1, 2] tasks=2>  (Python's str(); also LifoQueue,
//               PriorityQueue; _getters[n] / _putters[n] for blocked tasks)
//   locks       their repr(): <asyncio::Lock [locked, waiters:1]>, Event, Condition,
//               Semaphore, BoundedSemaphore, Barrier
//   exceptions  ValueError('bad'), CancelledError(), CancelledError('msg'),
//               ConnectionResetError(104, 'Connection reset by peer'),
//               OSError('Connection lost'), ExceptionGroup('eg', [ValueError('x')])
//
// Results print as Python's reprlib.repr would: strings quoted (and shortened past 30
// characters), bool as True/False, void as None, anything with an operator<< through it;
// a type that cannot be printed shows as `...`.
#pragma once

#include <concepts>
#include <exception>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

#include "asyncio/barrier.hpp"
#include "asyncio/condition.hpp"
#include "asyncio/event.hpp"
#include "asyncio/events.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/lock.hpp"
#include "asyncio/queues.hpp"
#include "asyncio/semaphore.hpp"
#include "asyncio/tasks.hpp"

namespace asyncio {

/// Python's repr() of an exception: `TypeName(args)`, with the library's types named as
/// Python names them (`ValueError('bad')`, `CancelledError()`, `ExceptionGroup('m', [...])`,
/// `OSError(2, 'No such file or directory')` for the errno form). "None" for a null pointer.
std::string repr(const std::exception_ptr& e);
/// Python's repr() of a str: quoted with ' (or " when the text holds ' and no "), with
/// Python's escapes.
std::string repr(std::string_view s);

namespace detail {

template <class T>
concept OstreamPrintable = requires(std::ostream& os, const T& v) {
  os << v;
};

/// Python's reprlib.repr of a str: longer than 30 characters, the middle becomes "...".
std::string short_repr(std::string_view s);

/// Python's repr() of a float: the shortest text that reads back, with ".0" when integral.
std::string float_repr(double v);

/// reprlib.repr-like text of a value (see the file comment).
template <class T>
std::string value_repr(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "True" : "False";
  } else if constexpr (std::is_floating_point_v<T>) {
    return float_repr(static_cast<double>(v));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return short_repr(std::string_view(v));
  } else if constexpr (OstreamPrintable<T>) {
    std::ostringstream out;
    out << v;
    return out.str();
  } else {
    return "...";
  }
}

/// Python's repr() of `e`, using its dynamic type (see asyncio::repr(std::exception_ptr)).
std::string exception_repr(const std::exception& e);

/// "[1, 'a']" for the items of a queue's storage, or "" when there are none.
template <class Items>
std::string items_repr(const Items& items) {
  std::string out;
  for (const auto& item : items) {
    out += out.empty() ? "[" : ", ";
    out += value_repr(item);
  }
  return out.empty() ? out : out + "]";
}

/// `<Future pending>` etc. `name` (tasks only) is quoted after the state; `result` is the
/// printed result (used when finished without exception).
std::string future_repr(const FutureBase& f, const std::string* name, const std::string& result);
/// The queue's "maxsize=.. [_getters[n]] [_putters[n]] [tasks=n]" parts around `items`.
std::string queue_str(const char* type, const QueueCore& q, const std::string& items);

template <class Impl, class T, bool IsTask>
std::string handle_repr(const Impl* impl) {
  if (impl == nullptr) return "<uninitialized>";
  std::string result = "None";
  if constexpr (!std::is_void_v<T>) {
    if (impl->value) result = value_repr(*impl->value);
  }
  if constexpr (IsTask) {
    const std::string name = impl->name();
    return future_repr(*impl, &name, result);
  } else {
    return future_repr(*impl, nullptr, result);
  }
}

}  // namespace detail

/// Prints Python's repr(future) (see the file comment).
template <class T>
std::ostream& operator<<(std::ostream& os, const Future<T>& f) {
  return os << detail::handle_repr<detail::FutureImpl<T>, T, false>(f.impl());
}
/// Prints Python's repr(task) (see the file comment).
template <class T>
std::ostream& operator<<(std::ostream& os, const Task<T>& t) {
  return os << detail::handle_repr<detail::TaskImpl<T>, T, true>(t.impl());
}
/// Prints Python's repr(task); the result is not known to AnyTask and shows as `...`.
std::ostream& operator<<(std::ostream& os, const AnyTask& t);
/// Prints Python's repr(handle): `<Handle>` or `<Handle cancelled>`.
std::ostream& operator<<(std::ostream& os, const Handle& h);
/// Prints Python's repr(timer_handle): `<TimerHandle when=...>` (cancelled after the name).
std::ostream& operator<<(std::ostream& os, const TimerHandle& h);

/// Prints the primitive's repr().
std::ostream& operator<<(std::ostream& os, const Lock& x);
/// Prints the primitive's repr().
std::ostream& operator<<(std::ostream& os, const Event& x);
/// Prints the primitive's repr().
std::ostream& operator<<(std::ostream& os, const Condition& x);
/// Prints the primitive's repr() (a BoundedSemaphore prints as one).
std::ostream& operator<<(std::ostream& os, const Semaphore& x);
/// Prints the primitive's repr().
std::ostream& operator<<(std::ostream& os, const Barrier& x);

/// Prints Python's str(queue): `<Queue maxsize=0 _queue=[1, 2] tasks=2>`.
template <class T>
std::ostream& operator<<(std::ostream& os, const Queue<T>& q) {
  return os << detail::queue_str("Queue", q, detail::items_repr(q.storage_items()));
}
/// Prints Python's str(queue): `<LifoQueue maxsize=0 _queue=[1, 2]>` (push order).
template <class T>
std::ostream& operator<<(std::ostream& os, const LifoQueue<T>& q) {
  return os << detail::queue_str("LifoQueue", q, detail::items_repr(q.storage_items()));
}
/// Prints Python's str(queue): `<PriorityQueue maxsize=0 _queue=[...]>` (heap order).
template <class T, class C>
std::ostream& operator<<(std::ostream& os, const PriorityQueue<T, C>& q) {
  return os << detail::queue_str("PriorityQueue", q, detail::items_repr(q.storage_items()));
}

/// Prints Python's repr(exc) of the library's exceptions and of any std::exception (found
/// through `using namespace asyncio` for std types).
template <class E>
requires std::derived_from<E, std::exception> std::ostream& operator<<(std::ostream& os,
                                                                       const E& e) {
  return os << detail::exception_repr(e);
}
/// Prints Python's repr(exc): CancelledError() or CancelledError('msg').
std::ostream& operator<<(std::ostream& os, const CancelledError& e);

}  // namespace asyncio

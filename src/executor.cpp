// ConcurrentFuture's shared state and ThreadPoolExecutor.

#include "asyncio/executor.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#endif

#include "asyncio/detail/clock.hpp"
#include "asyncio/detail/loop_registry.hpp"

namespace asyncio {
namespace detail {

// ---- ConcurrentStateBase ----------------------------------------------------------------------

bool ConcurrentStateBase::cancel() {
  std::vector<Callback> callbacks;
  {
    std::lock_guard lock(mutex_);
    if (state_ == State::Running || state_ == State::Finished) return false;
    if (state_ == State::Cancelled || state_ == State::CancelledAndNotified) return true;
    state_ = State::Cancelled;
    callbacks.swap(callbacks_);
  }
  done_cv_.notify_all();
  run_callbacks(std::move(callbacks));
  return true;
}

bool ConcurrentStateBase::cancelled() const {
  std::lock_guard lock(mutex_);
  return state_ == State::Cancelled || state_ == State::CancelledAndNotified;
}

bool ConcurrentStateBase::running() const {
  std::lock_guard lock(mutex_);
  return state_ == State::Running;
}

bool ConcurrentStateBase::done() const {
  std::lock_guard lock(mutex_);
  return done_locked();
}

bool ConcurrentStateBase::set_running_or_notify_cancel() {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case State::Cancelled:
      state_ = State::CancelledAndNotified;
      return false;
    case State::Pending:
      state_ = State::Running;
      return true;
    default:
      throw RuntimeError("ConcurrentFuture in unexpected state");
  }
}

std::unique_lock<std::mutex> ConcurrentStateBase::lock_for_completion() {
  std::unique_lock lock(mutex_);
  if (done_locked()) {
    throw InvalidStateError(state_ == State::Finished ? "ConcurrentFuture is already finished"
                                                      : "ConcurrentFuture is already cancelled");
  }
  return lock;
}

void ConcurrentStateBase::finish(std::unique_lock<std::mutex>& lock) {
  state_ = State::Finished;
  std::vector<Callback> callbacks;
  callbacks.swap(callbacks_);
  lock.unlock();
  done_cv_.notify_all();
  run_callbacks(std::move(callbacks));
}

void ConcurrentStateBase::set_exception(std::exception_ptr e) {
  if (!e) throw ValueError("set_exception() needs an exception, got a null exception_ptr");
  std::unique_lock lock = lock_for_completion();
  exception_ = std::move(e);
  finish(lock);
}

namespace {
/// A deadline `timeout` from now, saturated (detail/clock.hpp). NaN and negative timeouts
/// do not wait (CPython: Future.result(timeout=nan) raises TimeoutError at once); infinite or
/// huge ones wait forever (CPython raises OverflowError for them: a platform limit of its
/// time_t conversion, not a rule worth copying).
std::chrono::steady_clock::time_point deadline_after(Duration timeout) {
  using namespace std::chrono;
  const auto now = steady_clock::now();
  const std::int64_t ns = detail::seconds_to_ns(timeout.count(), 0);
  if (ns >= detail::kMaxTimerNs) return steady_clock::time_point::max();
  if (ns <= 0) return now;
  return now + duration_cast<steady_clock::duration>(nanoseconds(ns));
}
}  // namespace

bool ConcurrentStateBase::wait_locked(std::unique_lock<std::mutex>& lock,
                                      std::optional<Duration> timeout) const {
  const auto deadline =
      timeout ? deadline_after(*timeout) : std::chrono::steady_clock::time_point::max();
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    done_cv_.wait(lock, [this] { return done_locked(); });
    return true;
  }
  return done_cv_.wait_until(lock, deadline, [this] { return done_locked(); });
}

bool ConcurrentStateBase::wait(std::optional<Duration> timeout) const {
  std::unique_lock lock(mutex_);
  return wait_locked(lock, timeout);
}

void ConcurrentStateBase::wait_for_result(std::optional<Duration> timeout) const {
  std::unique_lock lock(mutex_);
  if (!wait_locked(lock, timeout)) throw TimeoutError();
  if (state_ != State::Finished) throw CancelledError();
  if (exception_) std::rethrow_exception(exception_);
}

std::exception_ptr ConcurrentStateBase::exception(std::optional<Duration> timeout) const {
  std::unique_lock lock(mutex_);
  if (!wait_locked(lock, timeout)) throw TimeoutError();
  if (state_ != State::Finished) throw CancelledError();
  return exception_;
}

std::exception_ptr ConcurrentStateBase::take_exception() {
  std::lock_guard lock(mutex_);
  return std::exchange(exception_, nullptr);
}

void ConcurrentStateBase::add_callback(Callback cb) {
  {
    std::lock_guard lock(mutex_);
    if (!done_locked()) {
      callbacks_.push_back(std::move(cb));
      return;
    }
  }
  std::vector<Callback> one;
  one.push_back(std::move(cb));
  run_callbacks(std::move(one));
}

void ConcurrentStateBase::run_callbacks(std::vector<Callback> callbacks) {
  if (callbacks.empty()) return;
  std::shared_ptr<ConcurrentStateBase> self = shared_from_this();
  for (Callback& cb : callbacks) {
    try {
      cb(self);
    } catch (...) {
      report_without_loop(
          {"exception calling callback for ConcurrentFuture", std::current_exception(), {}});
    }
  }
}

}  // namespace detail

// ---- ThreadPoolExecutor -----------------------------------------------------------------------

struct ThreadPoolExecutor::Impl {
  std::mutex mutex;
  std::condition_variable work_cv;
  std::deque<std::unique_ptr<WorkItem>> queue;
  std::vector<std::thread> threads;
  std::size_t idle = 0;     // threads waiting for work
  std::size_t started = 0;  // threads ever started
  bool shutdown = false;
  std::mutex join_mutex;  // serializes the joining in shutdown(wait=true)
  std::string name_prefix;

  static void worker(std::shared_ptr<Impl> impl, std::size_t index);
};

void ThreadPoolExecutor::Impl::worker(std::shared_ptr<Impl> impl, std::size_t index) {
#if defined(__linux__)
  if (!impl->name_prefix.empty()) {
    std::string name = impl->name_prefix + "_" + std::to_string(index);
    if (name.size() > 15) name.resize(15);
    pthread_setname_np(pthread_self(), name.c_str());
  }
#else
  (void)index;
#endif
  std::unique_lock lock(impl->mutex);
  while (true) {
    if (!impl->queue.empty()) {
      std::unique_ptr<WorkItem> item = std::move(impl->queue.front());
      impl->queue.pop_front();
      lock.unlock();
      item->run();
      item.reset();  // the call's state is destroyed here, outside the lock
      lock.lock();
      continue;
    }
    // Python's workers also drain the queue before honouring shutdown.
    if (impl->shutdown) break;
    ++impl->idle;
    impl->work_cv.wait(lock);
    --impl->idle;
  }
}

std::size_t ThreadPoolExecutor::default_max_workers() noexcept {
  const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
  return std::min<std::size_t>(32, cpus + 4);
}

ThreadPoolExecutor::ThreadPoolExecutor(std::optional<std::size_t> max_workers,
                                       std::string thread_name_prefix)
    : impl_(std::make_shared<Impl>()), max_workers_(max_workers.value_or(default_max_workers())) {
  if (max_workers_ == 0) throw ValueError("max_workers must be greater than 0");
  impl_->name_prefix = std::move(thread_name_prefix);
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  try {
    shutdown(/*wait=*/true);
  } catch (...) {
    // Joining failed (system error): nothing sensible to do in a destructor.
  }
}

void ThreadPoolExecutor::execute(std::unique_ptr<WorkItem> item) {
  std::unique_lock lock(impl_->mutex);
  if (impl_->shutdown) throw RuntimeError("cannot schedule new futures after shutdown");
  impl_->queue.push_back(std::move(item));
  // Python's _adjust_thread_count: no new thread while an idle one can take the call.
  if (impl_->queue.size() > impl_->idle && impl_->started < max_workers_) {
    try {
      impl_->threads.emplace_back(&Impl::worker, impl_, impl_->started);
      ++impl_->started;
    } catch (...) {
      if (impl_->threads.empty()) {
        impl_->queue.pop_back();  // nobody would ever run it
        throw;
      }
      // Enough threads exist to run it eventually.
    }
  } else {
    lock.unlock();
    impl_->work_cv.notify_one();
  }
}

void ThreadPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  std::deque<std::unique_ptr<WorkItem>> cancelled;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->shutdown = true;
    if (cancel_futures) cancelled.swap(impl_->queue);
  }
  impl_->work_cv.notify_all();
  for (auto& item : cancelled) item->cancel();
  cancelled.clear();
  if (!wait) return;
  std::lock_guard join_lock(impl_->join_mutex);
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(impl_->mutex);
    threads.swap(impl_->threads);
  }
  for (std::thread& t : threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // shut down from one of our own calls: this thread ends by itself
    } else {
      t.join();
    }
  }
}

std::size_t ThreadPoolExecutor::thread_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->started;
}

}  // namespace asyncio

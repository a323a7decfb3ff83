// Happy Eyeballs for create_connection (Python: base_events._interleave_addrinfos and
// staggered.staggered_race, specialised to connecting sockets).

#include "happy_eyeballs.hpp"

#include <algorithm>
#include <memory>
#include <utility>

#include "asyncio/gather.hpp"  // wait.hpp uses its concepts
#include "asyncio/tasks.hpp"
#include "asyncio/wait.hpp"

namespace asyncio::detail {

std::vector<AddrInfo> interleave_addrinfos(std::vector<AddrInfo> infos, int first_family_count) {
  std::vector<std::vector<AddrInfo>> by_family;  // in order of first appearance
  for (AddrInfo& info : infos) {
    auto it = std::find_if(by_family.begin(), by_family.end(),
                           [&](const auto& group) { return group.front().family == info.family; });
    if (it == by_family.end()) {
      by_family.emplace_back();
      it = by_family.end() - 1;
    }
    it->push_back(std::move(info));
  }
  std::vector<AddrInfo> reordered;
  reordered.reserve(infos.size());
  std::vector<std::size_t> next(by_family.size(), 0);
  if (first_family_count > 1 && !by_family.empty()) {
    std::size_t n = std::min(static_cast<std::size_t>(first_family_count - 1), by_family[0].size());
    for (; next[0] < n; ++next[0]) reordered.push_back(std::move(by_family[0][next[0]]));
  }
  // itertools.chain(zip_longest(*groups)) without the Nones.
  for (bool more = true; more;) {
    more = false;
    for (std::size_t g = 0; g < by_family.size(); ++g) {
      if (next[g] < by_family[g].size()) {
        reordered.push_back(std::move(by_family[g][next[g]++]));
        more = true;
      }
    }
  }
  return reordered;
}

namespace {

/// Shared by the driver and the attempt tasks, so that an attempt finishing after the driver
/// returned (or was cancelled) still has somewhere to put its socket — which then closes it.
struct RaceState {
  explicit RaceState(std::size_t n) : exceptions(n) {}
  std::optional<Socket> winner;
  SockAddr winner_addr;
  std::vector<std::vector<std::exception_ptr>> exceptions;  // per attempt, in address order
};

/// One attempt (Python: run_one_coro's `await coro_fn()` part). The first success becomes
/// the winner; a later success drops (closes) its socket. OSErrors are recorded by
/// connect_sock and end the attempt normally; anything else fails the task.
Coro<void> attempt(std::shared_ptr<RaceState> st, std::size_t index, AddrInfo info,
                   std::shared_ptr<const std::optional<std::vector<AddrInfo>>> local_infos) {
  try {
    Socket sock = co_await connect_sock(info, *local_infos, st->exceptions[index]);
    if (!st->winner) {
      st->winner = std::move(sock);
      st->winner_addr = info.addr;
    }
  } catch (const std::system_error&) {
    // Recorded in st->exceptions[index].
  }
}

}  // namespace

Coro<Socket> happy_eyeballs_connect(const std::vector<AddrInfo>& infos,
                                    std::optional<std::vector<AddrInfo>> local_infos,
                                    Duration delay, std::vector<std::exception_ptr>& exceptions,
                                    SockAddr& winner_addr) {
  EventLoop& loop = get_running_loop();
  auto st = std::make_shared<RaceState>(infos.size());
  auto local = std::make_shared<const std::optional<std::vector<AddrInfo>>>(std::move(local_infos));
  std::vector<Task<void>> tasks;
  std::size_t next = 0;
  double last_start = 0;
  std::exception_ptr error;
  try {
    auto start_next = [&] {
      tasks.push_back(loop.create_task(attempt(st, next, infos[next], local)));
      ++next;
      last_start = loop.time();
    };
    if (!infos.empty()) start_next();
    while (!st->winner) {
      std::vector<Task<void>> pending;
      for (const auto& t : tasks) {
        if (!t.done()) continue;
        // A bug rather than a connection error: Python's staggered_race raises it too.
        if (!t.cancelled() && t.exception()) std::rethrow_exception(t.exception());
      }
      for (const auto& t : tasks)
        if (!t.done()) pending.push_back(t);
      bool more = next < infos.size();
      if (pending.empty() && !more) break;  // all failed
      // The latest attempt failed: start the next one now (Python: this_failed.set()).
      if (more && tasks.back().done()) {
        start_next();
        continue;
      }
      std::optional<Duration> timeout;
      if (more) timeout = Duration(std::max(0.0, last_start + delay.count() - loop.time()));
      // Named, not a temporary in the co_await (g++ 12 destroys those twice).
      auto waiting = wait(std::move(pending), timeout, FIRST_COMPLETED);
      (void)co_await std::move(waiting);
      if (!st->winner && more && loop.time() >= last_start + delay.count()) start_next();
    }
  } catch (...) {
    error = std::current_exception();  // cancelled, or an attempt's unexpected exception
  }
  // Python: `for t in running_tasks: t.cancel()`. We also wait for them, so that every losing
  // socket is closed when create_connection returns or raises.
  std::vector<Task<void>> unfinished;
  for (const auto& t : tasks) {
    if (!t.done()) {
      t.cancel();
      unfinished.push_back(t);
    }
  }
  if (!unfinished.empty()) {
    try {
      auto waiting = wait(std::move(unfinished));
      (void)co_await std::move(waiting);
    } catch (...) {
      // Cancelled again while the attempts wind down: they close their sockets on their own.
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  if (!st->winner) {
    for (auto& per_attempt : st->exceptions)
      for (auto& e : per_attempt) exceptions.push_back(std::move(e));
    co_return Socket();
  }
  winner_addr = st->winner_addr;
  co_return std::move(*st->winner);
}

}  // namespace asyncio::detail

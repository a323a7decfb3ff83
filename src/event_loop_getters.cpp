// new_event_loop(), set_event_loop(), get_event_loop() (Python: asyncio.events'
// module-level functions, without the policy object they delegate to in Python).

#include <sstream>
#include <string>
#include <thread>

#include "asyncio/events.hpp"
#include "asyncio/unix_events.hpp"

namespace asyncio {

std::unique_ptr<EventLoop> new_event_loop() {
  return std::make_unique<EventLoop>();
}

void set_event_loop(EventLoop* loop) noexcept {
  detail::current_loop = loop;
}

EventLoop& get_event_loop() {
  if (detail::running_loop != nullptr) return *detail::running_loop;
  if (detail::current_loop != nullptr) return *detail::current_loop;
  // Python names the thread (threading.current_thread().name); C++ threads have no such
  // name, so other threads are named after their id.
  std::string name = "MainThread";
  if (!detail::is_main_thread()) {
    std::ostringstream id;
    id << std::this_thread::get_id();
    name = "Thread-" + id.str();
  }
  throw RuntimeError("There is no current event loop in thread '" + name + "'.");
}

}  // namespace asyncio

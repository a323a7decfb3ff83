// The debug-build report of a coroutine that was never awaited (asyncio/coroutines.hpp).
#include "asyncio/coroutines.hpp"

#include <string>

#include "asyncio/detail/loop_access.hpp"
#include "asyncio/detail/loop_registry.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/events.hpp"

namespace asyncio::detail {

void report_never_awaited(const char* name) noexcept {
  try {
    // Python: "RuntimeWarning: coroutine 'f' was never awaited".
    ExceptionContext context{
        std::string("coroutine '") + (name ? name : "?") + "' was never awaited", {}, {}};
    EventLoop* loop = running_loop;
    if (loop == nullptr) {
      report_without_loop(context);
      return;
    }
    if (TaskBase* task = LoopAccess::current_task(*loop)) context.task = task->name();
    loop->call_exception_handler(context);
  } catch (...) {
    // Reporting must not throw out of a destructor; an allocation failure loses the report.
  }
}

}  // namespace asyncio::detail

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
    report_to_running_loop(std::move(context));
  } catch (...) {
    // Reporting must not throw out of a destructor; an allocation failure loses the report.
  }
}

}  // namespace asyncio::detail

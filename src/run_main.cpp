// run_main(): a program's last words, as CPython's (Modules/main.c: pymain_run_python,
// _Py_HandleSystemExit, exit_sigint).

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "asyncio/exceptions.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/unix_events.hpp"

namespace asyncio::detail {

namespace {

/// Python flushes sys.stdout and sys.stderr at exit. Here: the C++ streams first (they may
/// buffer on their own after sync_with_stdio(false)), then every C stdio stream.
void flush_all() noexcept {
  try {
    std::cout.flush();
    std::clog.flush();
    std::cerr.flush();
  } catch (...) {
    // A stream with exceptions() enabled whose flush failed: nothing better to do here.
  }
  std::fflush(nullptr);
}

void print_to_stderr(const std::string& text) noexcept {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

/// CPython's exit_sigint(): die of SIGINT so the parent (a shell) sees it, which a plain
/// exit(130) would not tell apart from a program choosing to exit with 130.
int exit_sigint() noexcept {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(SIGINT);  // delivered to this thread before raise() returns
  return 128 + SIGINT;
}

}  // namespace

int run_main(int (*body)(void*), void* ctx) noexcept {
  int status = 0;
  try {
    status = body(ctx);
  } catch (const KeyboardInterrupt&) {
    flush_all();
    print_to_stderr("KeyboardInterrupt\n");  // format_exception()'s text for it
    return exit_sigint();
  } catch (...) {
    std::exception_ptr e = std::current_exception();
    flush_all();
    std::string text;
    try {
      text = format_exception(e);
    } catch (...) {
      text = "unknown exception (formatting it failed)\n";
    }
    print_to_stderr(text);
    return 1;
  }
  flush_all();
  return status;
}

}  // namespace asyncio::detail

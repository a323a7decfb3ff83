// Shared helpers of the generated C++ scenarios (tests/difftest). Mirrors prelude.py: every
// helper here prints exactly what its Python twin prints. Only the public API is used, as a
// user would write it.
#pragma once

#include <asyncio/asyncio.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace difftest {

struct Ctx {
  explicit Ctx(double u) : unit(u), t0(asyncio::get_running_loop().time()) {}
  double unit;
  double t0;
  asyncio::Lock lock[2];
  asyncio::Semaphore sem{2};
  asyncio::Event ev[2];
  asyncio::Condition cond;
  asyncio::Queue<int> q{1};
  std::vector<asyncio::Task<int>> t;
  std::vector<std::string> names;
};

inline std::string s_(bool b) {
  return b ? "True" : "False";
}
inline std::string s_(int v) {
  return std::to_string(v);
}
inline std::string s_(const char* v) {
  return v;
}
inline std::string s_(const std::string& v) {
  return v;
}

template <class... A>
void L(const A... a) {  // by value: string literals decay, one instantiation per shape
  std::string line;
  ((line += s_(a), line += ' '), ...);
  line.back() = '\n';
  std::fputs(line.c_str(), stdout);
}

std::string desc(std::exception_ptr e);

inline std::string desc(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const asyncio::CancelledError&) {
    return "CancelledError";  // the message is not compared: see prelude.py
  } catch (const asyncio::TimeoutError&) {
    return "TimeoutError";  // see prelude.py: the message is normalised away
  } catch (const asyncio::ExceptionGroup& x) {
    std::string s = "ExceptionGroup(" + x.message() + ")[";
    for (std::size_t i = 0; i < x.exceptions().size(); ++i)
      s += (i ? ", " : "") + desc(x.exceptions()[i]);
    return s + "]";
  } catch (const asyncio::ValueError& x) {
    return std::string("ValueError(") + x.what() + ")";
  } catch (const asyncio::RuntimeError& x) {
    return std::string("RuntimeError(") + x.what() + ")";
  } catch (const asyncio::InvalidStateError& x) {
    return std::string("InvalidStateError(") + x.what() + ")";
  } catch (const std::exception& x) {
    return std::string("Exception(") + x.what() + ")";
  } catch (...) {
    return "unknown";
  }
}

/// Whether `e` is of type E (Python: isinstance(e, E)).
template <class E>
bool is_(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

inline std::string fl(const std::vector<int>& rs) {
  std::string s = "[";
  for (std::size_t i = 0; i < rs.size(); ++i) s += (i ? ", " : "") + std::to_string(rs[i]);
  return s + "]";
}
inline std::string fl(const std::vector<asyncio::Outcome<int>>& rs) {
  std::string s = "[";
  for (std::size_t i = 0; i < rs.size(); ++i)
    s += (i ? ", " : "") +
         (rs[i].has_value() ? std::to_string(rs[i].value()) : desc(rs[i].exception()));
  return s + "]";
}
inline std::string tg_results(const std::vector<asyncio::Task<int>>& ts) {
  std::string s = "[";
  for (std::size_t i = 0; i < ts.size(); ++i) s += (i ? ", " : "") + std::to_string(ts[i].result());
  return s + "]";
}

inline double dl(Ctx& c, int s) {
  return c.t0 + s * c.unit - asyncio::get_running_loop().time();
}
inline double at(Ctx& c, int s) {
  return c.t0 + s * c.unit;
}

inline asyncio::Coro<> su(Ctx& c, int s) {
  co_await asyncio::sleep(asyncio::Duration(std::max(0.0, dl(c, s))));
}

inline std::string state(asyncio::Task<int>& t) {
  if (!t.done()) return "pending";
  if (t.cancelled()) return "cancelled";
  auto e = t.exception();
  return e ? "exc " + desc(e) : "result " + std::to_string(t.result());
}

inline asyncio::Coro<> final_phase(Ctx& c, int end) {
  co_await su(c, end);
  L("end");
  for (int round = 0; round < 10; ++round) {
    std::vector<asyncio::Task<int>> pend;
    for (auto& t : c.t)
      if (!t.done()) pend.push_back(t);
    if (pend.empty()) break;
    for (std::size_t i = 0; i < c.t.size(); ++i)
      if (!c.t[i].done()) L("final cancel", c.names[i], c.t[i].cancel("final"));
    co_await asyncio::wait(std::move(pend), asyncio::Duration(c.unit * 5));
  }
  for (std::size_t i = 0; i < c.t.size(); ++i) L(c.names[i], state(c.t[i]), c.t[i].cancelling());
}

using Scenario = asyncio::Coro<> (*)(double unit);

inline int drive(const std::map<std::string, Scenario>& table, int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // keep what was printed if a scenario crashes
  if (argc < 2) return 2;
  double unit = std::atof(argv[1]);
  for (int i = 2; i < argc; ++i) {
    auto it = table.find(argv[i]);
    if (it == table.end()) {
      std::fprintf(stderr, "unknown scenario %s\n", argv[i]);
      return 2;
    }
    std::printf("=== %s\n", argv[i]);
    try {
      asyncio::run(it->second(unit));
    } catch (...) {
      L("run raised", desc(std::current_exception()));
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace difftest

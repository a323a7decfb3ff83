// Tests of ExceptionGroup::split()/subgroup() and except_star() (Python: BaseExceptionGroup
// .split/.subgroup and the `except*` statement, PEP 654). The expected texts are the reprs
// CPython 3.12.1 prints for the same programs (given in each test's comment).
#include <gtest/gtest.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "asyncio/asyncio.hpp"

namespace {

using asyncio::ExceptionGroup;
using asyncio::ValueError;
using EP = std::exception_ptr;

// Stand-ins for Python's built-in exception types, distinct from each other in C++.
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct KeyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct OSError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct RuntimeErr : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class E>
EP ex(const std::string& what) {
  return std::make_exception_ptr(E(what));
}
EP group(const std::string& message, std::vector<EP> excs) {
  return std::make_exception_ptr(ExceptionGroup(message, std::move(excs)));
}

// Python's repr() of the test's exception types, so expectations read like CPython's output.
std::string repr(const EP& e);
std::string repr(const ExceptionGroup& g) {
  std::string s = "ExceptionGroup('" + g.message() + "', [";
  for (std::size_t i = 0; i < g.exceptions().size(); ++i) {
    s += (i ? ", " : "") + repr(g.exceptions()[i]);
  }
  return s + "])";
}
std::string repr(const std::optional<ExceptionGroup>& g) {
  return g ? repr(*g) : "None";
}
std::string repr(const EP& e) {
  if (!e) return "None";
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& g) {
    return repr(g);
  } catch (const ValueError& x) {
    return std::string("ValueError(") + x.what() + ")";
  } catch (const TypeError& x) {
    return std::string("TypeError(") + x.what() + ")";
  } catch (const KeyError& x) {
    return std::string("KeyError(") + x.what() + ")";
  } catch (const OSError& x) {
    return std::string("OSError(") + x.what() + ")";
  } catch (const RuntimeErr& x) {
    return std::string("RuntimeError(") + x.what() + ")";
  } catch (...) {
    return "?";
  }
}

// eg = ExceptionGroup("top", [ValueError("v1"), TypeError("t1"),
//          ExceptionGroup("inner", [ValueError("v2"), KeyError("k")]),
//          ExceptionGroup("allv", [ValueError("v3")])])
ExceptionGroup sample() {
  return ExceptionGroup("top", {ex<ValueError>("'v1'"), ex<TypeError>("'t1'"),
                                group("inner", {ex<ValueError>("'v2'"), ex<KeyError>("'k'")}),
                                group("allv", {ex<ValueError>("'v3'")})});
}

// m, r = eg.split(ValueError)
TEST(ExceptionGroupSplit, ByTypeKeepsTheNestedStructure) {
  const ExceptionGroup eg = sample();
  auto [m, r] = eg.split<ValueError>();
  EXPECT_EQ(repr(m),
            "ExceptionGroup('top', [ValueError('v1'), ExceptionGroup('inner', [ValueError('v2')]), "
            "ExceptionGroup('allv', [ValueError('v3')])])");
  EXPECT_EQ(repr(r),
            "ExceptionGroup('top', [TypeError('t1'), ExceptionGroup('inner', [KeyError('k')])])");
  // The leaves are the original exception objects (Python: m.exceptions[0] is eg.exceptions[0]).
  EXPECT_EQ(m->exceptions()[0], eg.exceptions()[0]);
  EXPECT_EQ(r->exceptions()[0], eg.exceptions()[1]);
  // str(m) and m.message
  EXPECT_EQ(std::string(m->what()).substr(0, std::string(m->what()).find('\n')),
            "top (3 sub-exceptions)");
  EXPECT_EQ(m->message(), "top");
}

// eg.subgroup(ValueError); eg.subgroup(OSError) is None
TEST(ExceptionGroupSplit, SubgroupByType) {
  const ExceptionGroup eg = sample();
  EXPECT_EQ(repr(eg.subgroup<ValueError>()),
            "ExceptionGroup('top', [ValueError('v1'), ExceptionGroup('inner', [ValueError('v2')]), "
            "ExceptionGroup('allv', [ValueError('v3')])])");
  EXPECT_EQ(repr(eg.subgroup<OSError>()), "None");
  auto [m, r] = eg.split<OSError>();
  EXPECT_FALSE(m);
  EXPECT_EQ(repr(r), repr(eg));
}

// eg.subgroup(ExceptionGroup) is eg; eg.split(Exception) == (eg, None): the condition is
// checked against the group itself first.
TEST(ExceptionGroupSplit, GroupMatchingItselfIsTakenWhole) {
  const ExceptionGroup eg = sample();
  EXPECT_EQ(repr(eg.subgroup<ExceptionGroup>()), repr(eg));
  auto [m, r] = eg.split<std::exception>();
  EXPECT_EQ(repr(m), repr(eg));
  EXPECT_FALSE(r);
  EXPECT_EQ(m->exceptions(), eg.exceptions());
  // A nested group matching the type is taken whole, as the same object.
  const ExceptionGroup outer("o", {ex<TypeError>("'t'"), group("n", {ex<KeyError>("'k'")})});
  auto [gm, gr] = outer.split<ExceptionGroup>();
  EXPECT_EQ(repr(gm), repr(outer));
  // Split by a base class of several leaf types.
  auto [rm, rr] = eg.split<std::runtime_error>();
  EXPECT_EQ(repr(rm),
            "ExceptionGroup('top', [TypeError('t1'), ExceptionGroup('inner', [KeyError('k')])])");
  EXPECT_EQ(repr(rr),
            "ExceptionGroup('top', [ValueError('v1'), ExceptionGroup('inner', [ValueError('v2')]), "
            "ExceptionGroup('allv', [ValueError('v3')])])");
}

// calls = []; eg.split(lambda e: calls.append(repr(e)[:20]) or False); print(calls)
// m, r = eg.split(lambda e: isinstance(e, ValueError))
TEST(ExceptionGroupSplit, PredicateSeesGroupsThenLeavesDepthFirst) {
  const ExceptionGroup eg = sample();
  std::vector<std::string> calls;
  auto [none, all] = eg.split([&](const EP& e) {
    calls.push_back(repr(e).substr(0, 20));
    return false;
  });
  EXPECT_EQ(calls,
            (std::vector<std::string>{"ExceptionGroup('top'", "ValueError('v1')", "TypeError('t1')",
                                      "ExceptionGroup('inne", "ValueError('v2')", "KeyError('k')",
                                      "ExceptionGroup('allv", "ValueError('v3')"}));
  EXPECT_FALSE(none);
  EXPECT_EQ(repr(all), repr(eg));

  const auto is_value_error = [](const EP& e) {
    try {
      std::rethrow_exception(e);
    } catch (const ValueError&) {
      return true;
    } catch (...) {
      return false;
    }
  };
  auto [m, r] = eg.split(is_value_error);
  EXPECT_EQ(repr(m), repr(eg.subgroup<ValueError>()));
  EXPECT_EQ(repr(r),
            "ExceptionGroup('top', [TypeError('t1'), ExceptionGroup('inner', [KeyError('k')])])");
  EXPECT_EQ(repr(eg.subgroup(is_value_error)), repr(m));
  // A predicate accepting a nested group takes it whole.
  auto by_message = [](const EP& e) {
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      return g.message() == "inner";
    } catch (...) {
      return false;
    }
  };
  EXPECT_EQ(repr(eg.subgroup(by_message)),
            "ExceptionGroup('top', [ExceptionGroup('inner', [ValueError('v2'), KeyError('k')])])");
}

// ---- except* ----------------------------------------------------------------------------------

// Runs `body` (which throws), then the except_star clauses built by `handle`, and returns
// what escaped ("handled" if nothing did): Python's
//   try:
//       try: raise exc
//       except* ...: ...
//   except BaseException as e: print("escaped", repr(e))
//   else: print("handled")
template <class... Clauses>
std::string escaped(const EP& raised, Clauses... clauses) {
  try {
    try {
      std::rethrow_exception(raised);
    } catch (...) {
      asyncio::except_star(std::current_exception(), std::move(clauses)...);
    }
  } catch (...) {
    return "escaped " + repr(std::current_exception());
  }
  return "handled";
}

// f(ValueError("naked")); f(TypeError("naked2"))
//   except* ValueError as g: print("handler", repr(g))
TEST(ExceptStar, PlainExceptionIsWrappedForTheHandlerAndRethrownAsIsIfUnmatched) {
  std::vector<std::string> log;
  auto clause = asyncio::except<ValueError>(
      [&](const ExceptionGroup& g) { log.push_back("handler " + repr(g)); });
  EXPECT_EQ(escaped(ex<ValueError>("'naked'"), clause), "handled");
  EXPECT_EQ(log, std::vector<std::string>{"handler ExceptionGroup('', [ValueError('naked')])"});
  const EP naked2 = ex<TypeError>("'naked2'");
  EXPECT_EQ(escaped(naked2, clause), "escaped TypeError('naked2')");
  // The very same object propagates.
  try {
    asyncio::except_star(naked2, clause);
  } catch (...) {
    EXPECT_EQ(std::current_exception(), naked2);
  }
}

// f(ExceptionGroup("g", [ValueError(1), TypeError(2)]))
TEST(ExceptStar, UnhandledRestKeepsTheMessage) {
  std::vector<std::string> log;
  EXPECT_EQ(escaped(group("g", {ex<ValueError>("1"), ex<TypeError>("2")}),
                    asyncio::except<ValueError>(
                        [&](const ExceptionGroup& g) { log.push_back("handler " + repr(g)); })),
            "escaped ExceptionGroup('g', [TypeError(2)])");
  EXPECT_EQ(log, std::vector<std::string>{"handler ExceptionGroup('g', [ValueError(1)])"});
  // Fully handled by two clauses; a clause without a parameter; an unmatched clause skipped.
  int calls = 0;
  EXPECT_EQ(escaped(group("g", {ex<ValueError>("1"), ex<TypeError>("3")}),
                    asyncio::except<OSError>([&] { ++calls; }),
                    asyncio::except<ValueError>([&] { ++calls; }),
                    asyncio::except<TypeError>([&] { ++calls; })),
            "handled");
  EXPECT_EQ(calls, 2);
  // Nothing matches: the original object propagates unchanged.
  const EP orig = group("g", {ex<KeyError>("1")});
  try {
    asyncio::except_star(orig, asyncio::except<ValueError>([] {}));
    ADD_FAILURE() << "nothing escaped";
  } catch (...) {
    EXPECT_EQ(std::current_exception(), orig);
  }
}

// g2(): except* ValueError: raise RuntimeError("from handler")
//       except* TypeError: raise OSError("second")      on [ValueError(1), TypeError(2),
//       KeyError(3)]
// run(): the eg2.py cases
TEST(ExceptStar, NewExceptionsFromHandlersComeFirstInAnUnnamedGroup) {
  auto raise_runtime = asyncio::except<ValueError>([] { throw RuntimeErr("'from handler'"); });
  auto raise_os = asyncio::except<TypeError>([] { throw OSError("'second'"); });
  EXPECT_EQ(escaped(group("g", {ex<ValueError>("1"), ex<TypeError>("2"), ex<KeyError>("3")}),
                    raise_runtime, raise_os),
            "escaped ExceptionGroup('', [RuntimeError('from handler'), OSError('second'), "
            "ExceptionGroup('g', [KeyError(3)])])");
  EXPECT_EQ(escaped(group("g", {ex<ValueError>("1"), ex<KeyError>("3")}),
                    asyncio::except<ValueError>([] { throw RuntimeErr("'a'"); })),
            "escaped ExceptionGroup('', [RuntimeError('a'), ExceptionGroup('g', [KeyError(3)])])");
  EXPECT_EQ(escaped(group("g", {ex<ValueError>("1"), ex<TypeError>("3")}),
                    asyncio::except<ValueError>([] { throw RuntimeErr("'a'"); }),
                    asyncio::except<TypeError>([] { throw OSError("'b'"); })),
            "escaped ExceptionGroup('', [RuntimeError('a'), OSError('b')])");
  // A single new exception and nothing left: raised alone (g4 on a plain exception, g5 on a
  // group).
  auto raise_h = asyncio::except<ValueError>([] { throw RuntimeErr("'h'"); });
  EXPECT_EQ(escaped(ex<ValueError>("'n'"), raise_h), "escaped RuntimeError('h')");
  EXPECT_EQ(escaped(group("g", {ex<ValueError>("1")}), raise_h), "escaped RuntimeError('h')");
  // A new group raised by a handler is kept as it is.
  EXPECT_EQ(
      escaped(group("g", {ex<ValueError>("1"), ex<TypeError>("3")}),
              asyncio::except<ValueError>([] { throw ExceptionGroup("new", {ex<OSError>("1")}); }),
              asyncio::except<TypeError>([] {})),
      "escaped ExceptionGroup('new', [OSError(1)])");
}

// mk() = ExceptionGroup("top", [ValueError(1), ExceptionGroup("inner", [ValueError(2),
//        KeyError(3)]), TypeError(4)])   (eg3.py)
EP mk() {
  return group("top",
               {ex<ValueError>("1"), group("inner", {ex<ValueError>("2"), ex<KeyError>("3")}),
                ex<TypeError>("4")});
}

TEST(ExceptStar, RethrowKeepsThePartInTheOriginalStructure) {
  std::vector<std::string> log;
  // a(): except* ValueError as g: print("h", repr(g)); raise
  EXPECT_EQ(escaped(mk(), asyncio::except<ValueError>([&](const ExceptionGroup& g) {
                      log.push_back("h " + repr(g));
                      throw;
                    })),
            "escaped ExceptionGroup('top', [ValueError(1), ExceptionGroup('inner', [ValueError(2), "
            "KeyError(3)]), TypeError(4)])");
  EXPECT_EQ(log, std::vector<std::string>{
                     "h ExceptionGroup('top', [ValueError(1), ExceptionGroup('inner', "
                     "[ValueError(2)])])"});
  // b(): except* ValueError: raise / except* KeyError: raise RuntimeError("r")
  EXPECT_EQ(escaped(mk(), asyncio::except<ValueError>([] { throw; }),
                    asyncio::except<KeyError>([] { throw RuntimeErr("'r'"); })),
            "escaped ExceptionGroup('', [RuntimeError('r'), ExceptionGroup('top', [ValueError(1), "
            "ExceptionGroup('inner', [ValueError(2)]), TypeError(4)])])");
  // c(): except* ValueError: raise / except* KeyError: pass / except* TypeError: pass
  EXPECT_EQ(escaped(mk(), asyncio::except<ValueError>([] { throw; }),
                    asyncio::except<KeyError>([] {}), asyncio::except<TypeError>([] {})),
            "escaped ExceptionGroup('top', [ValueError(1), ExceptionGroup('inner', "
            "[ValueError(2)])])");
  // d(): except* Exception as g: the whole group, handled
  log.clear();
  EXPECT_EQ(escaped(mk(), asyncio::except<std::exception>(
                              [&](const ExceptionGroup& g) { log.push_back("h " + repr(g)); })),
            "handled");
  EXPECT_EQ(log, std::vector<std::string>{"h " + repr(mk())});
}

// except* in a coroutine, around a TaskGroup whose children fail with different types.
TEST(ExceptStar, AroundATaskGroup) {
  std::vector<std::string> log;
  asyncio::run([&]() -> asyncio::Coro<> {
    try {
      co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coro<> {
        tg.create_task([]() -> asyncio::Coro<> {
          throw ValueError("'bad'");
          co_return;
        }());
        tg.create_task([]() -> asyncio::Coro<> {
          throw KeyError("'missing'");
          co_return;
        }());
        co_return;
      });
    } catch (...) {
      auto err = std::current_exception();
      try {
        asyncio::except_star(err, asyncio::except<ValueError>([&](const ExceptionGroup& g) {
                               log.push_back("value " + repr(g));
                             }));
      } catch (...) {
        log.push_back("rest " + repr(std::current_exception()));
      }
    }
  }());
  EXPECT_EQ(log,
            (std::vector<std::string>{
                "value ExceptionGroup('unhandled errors in a TaskGroup', [ValueError('bad')])",
                "rest ExceptionGroup('unhandled errors in a TaskGroup', [KeyError('missing')])"}));
}

}  // namespace

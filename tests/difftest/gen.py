#!/usr/bin/env python3
"""Random asyncio scenarios, emitted both as Python 3.12 and as C++ (tests/difftest).

A scenario is deterministic from its seed. It has a few top-level tasks t0..tN-1 and a main
task; each runs a *block* (a coroutine function) of statements that print as they happen.
Blocks nest: wait_for / timeout / shield / gather / TaskGroup / direct calls run other blocks.

Timing: every point in time a scenario refers to is a *slot* s (deadline t0 + s*unit). Every
slot is used by exactly one sleep or timeout in the scenario, so no two timers are ever due
together and the event order never depends on a race between timers (see README.md). A task
that reaches `sleep until slot s` after s has passed (it was blocked) yields once instead.

Usage: gen.py OUTDIR FIRST_SEED COUNT [PER_FILE]  -> OUTDIR/batch_K.py, OUTDIR/batch_K.cpp
"""
import random
import sys

EXC_KINDS = ["ValueError", "RuntimeError"]
# What an `except` clause catches, with the C++ test used to emulate it (C++ cannot co_await
# inside a catch block, so the emitted C++ captures the exception_ptr and tests it after).
CATCH = {
    "cancel": ("asyncio.CancelledError", "asyncio::CancelledError"),
    "exc": ("Exception", "std::exception"),
    "timeout": ("TimeoutError", "asyncio::TimeoutError"),
    "value": ("ValueError", "asyncio::ValueError"),
    "eg": ("ExceptionGroup", "asyncio::ExceptionGroup"),
}


class Scenario:
    def __init__(self, seed):
        self.seed = seed
        self.r = random.Random(seed)
        self.blocks = []  # (id, stmts)
        self.nslots = 0
        self.swallow = False
        r = self.r
        self.ntasks = r.randint(1, 3)
        # Only the top tasks' own blocks may swallow a CancelledError: final() cancels those
        # again, while nobody would cancel a swallowing gather child or shielded task a second
        # time (asyncio.run() would then wait for it forever, in both implementations).
        self.tops = [self.block(i, 0, r.randint(1, 3), True) for i in range(self.ntasks)]
        self.main = self.block(-1, 0, r.randint(1, 3))
        # Random order of the slots, so deadlines interleave freely across tasks.
        perm = list(range(1, self.nslots + 1))
        r.shuffle(perm)
        self.slotmap = perm
        # The main block runs under timeout_at(end) (it may wait for something that never
        # happens); final() starts at the same slot, after it.
        self.end = self.nslots + 1

    # ---- generation ------------------------------------------------------------------------

    def slot(self):
        self.nslots += 1
        return self.nslots - 1  # index into slotmap, resolved at emission

    def block(self, owner, depth, n, swallow=False):
        bid = len(self.blocks)
        self.blocks.append(None)
        outer, self.swallow = self.swallow, swallow
        stmts = self.stmts(owner, depth, n, frozenset())
        self.swallow = outer
        self.blocks[bid] = stmts
        return bid

    def later_task(self, owner):
        """A top task this one may await without a cycle (higher index; main: any)."""
        if owner + 1 >= self.ntasks:
            return None
        return self.r.randint(owner + 1, self.ntasks - 1)

    def msg(self):
        return self.r.choice([None, None, "m%d" % self.r.randint(0, 99)])

    def stmts(self, owner, depth, n, held):
        out = []
        for _ in range(n):
            st = self.stmt(owner, depth, held)
            out.append(st)
            if st[0] == "raise":
                break
        return out

    def stmt(self, owner, depth, held):
        r = self.r
        main = owner < 0
        deep = depth >= 2
        choices = [
            ("sleep", 10), ("yield", 3), ("cancel", 6 if main else 3), ("raise", 2),
            ("cancelling", 2), ("uncancel", 1), ("ev_wait", 2), ("ev_set", 3), ("ev_clear", 1),
            ("q_put", 2), ("q_get", 2), ("cond_wait", 1), ("cond_notify", 2),
        ]
        if not main:
            choices.append(("cancel_self", 1))
        if self.later_task(owner) is not None:
            choices.append(("await", 3))
        if not deep:
            choices += [("lock", 3), ("sem", 2), ("try", 6), ("call", 2), ("wait_for", 4),
                        ("timeout", 4), ("shield", 3), ("gather", 4), ("tg", 4)]
        kind = r.choices([c for c, _ in choices], [w for _, w in choices])[0]
        if kind == "sleep":
            return ("sleep", self.slot())
        if kind == "yield":
            return ("yield",)
        if kind == "cancel":
            return ("cancel", r.randrange(self.ntasks), self.msg())
        if kind == "cancel_self":
            return ("cancel_self", self.msg())
        if kind == "raise":
            return ("raise", r.choice(EXC_KINDS))
        if kind in ("cancelling", "uncancel", "q_get", "cond_wait"):
            return (kind,)
        if kind in ("ev_wait", "ev_set", "ev_clear"):
            return (kind, r.randrange(2))
        if kind == "q_put":
            return ("q_put", r.randint(0, 9))
        if kind == "cond_notify":
            return ("cond_notify", r.choice([1, 2, "all"]))
        if kind == "await":
            return ("await", self.later_task(owner))
        if kind == "lock":
            free = [k for k in (0, 1) if k not in held]
            if not free:
                return ("sleep", self.slot())
            k = r.choice(free)
            return ("lock", k, self.stmts(owner, depth + 1, r.randint(1, 2), held | {k}))
        if kind == "sem":
            return ("sem", self.stmts(owner, depth + 1, r.randint(1, 2), held))
        if kind == "try":
            body = self.stmts(owner, depth + 1, r.randint(1, 2), held)
            if r.random() < 0.2:
                return ("finally", body)
            catch = r.choices(list(CATCH), [6, 3, 2, 2, 1])[0]
            handler = []
            if catch == "cancel" and r.random() < 0.5:
                handler.append(("uncancel",))
            if r.random() < 0.3:
                handler.append(("sleep", self.slot()))
            reraise = r.random() < 0.4 or (catch == "cancel" and not self.swallow)
            return ("try", body, catch, handler, reraise)
        sub = lambda: self.block(owner, depth + 1, r.randint(1, 2))  # noqa: E731
        if kind == "call":
            return ("call", sub())
        if kind in ("wait_for", "shield"):
            j = self.later_task(owner)
            target = ("task", j) if j is not None and r.random() < 0.3 else ("block", sub())
            if kind == "shield":
                return ("shield", target)
            return ("wait_for", target, self.slot())
        if kind == "timeout":
            return ("timeout", sub(), self.slot())
        if kind == "gather":
            j = self.later_task(owner)
            if j is not None and r.random() < 0.25:
                ts = sorted({self.later_task(owner) for _ in range(r.randint(1, 2))})
                return ("gather_tasks", ts, r.random() < 0.5)
            return ("gather", [sub() for _ in range(r.randint(1, 2))], r.random() < 0.5)
        if kind == "tg":
            kids = [sub() for _ in range(r.randint(1, 2))]
            return ("tg", kids, self.stmts(owner, depth + 1, r.randint(0, 1), held))
        raise AssertionError(kind)

    # ---- emission --------------------------------------------------------------------------

    def S(self, s):
        return self.slotmap[s]

    def fn(self, bid):
        return "b%d" % bid


class PyEmitter:
    def __init__(self, sc):
        self.sc = sc
        self.pre = "s%d_" % sc.seed
        self.v = 0

    def var(self):
        self.v += 1
        return "v%d" % self.v

    def emit(self):
        sc = self.sc
        out = []
        for bid, stmts in enumerate(sc.blocks):
            lbl = "b%d" % bid
            out.append("async def %sb%d(c):" % (self.pre, bid))
            out.append("    L(%r, 'start')" % lbl)
            for i, st in enumerate(stmts):
                out += self.stmt(st, "%s.%d" % (lbl, i), 1)
            out.append("    L(%r, 'return')" % lbl)
            out.append("    return %d" % bid)
            out.append("")
        out.append("async def %smain(unit):" % self.pre)
        out.append("    c = Ctx(unit)")
        for i, bid in enumerate(sc.tops):
            out.append("    c.names.append('t%d')" % i)
            out.append("    c.t.append(asyncio.create_task(%sb%d(c), name='t%d'))" % (self.pre, bid, i))
        out.append("    try:")
        out.append("        async with asyncio.timeout_at(at(c, %d)):" % sc.end)
        out.append("            await %sb%d(c)" % (self.pre, sc.main))
        out.append("    except BaseException as e:")
        out.append("        L('main raised', desc(e))")
        out.append("    await final(c, %d)" % sc.end)
        out.append("")
        return out

    def body(self, stmts, lbl, ind):
        out = []
        for i, st in enumerate(stmts):
            out += self.stmt(st, "%s.%d" % (lbl, i), ind)
        if not out:
            out.append("    " * ind + "pass")
        return out

    def target(self, t):
        return "c.t[%d]" % t[1] if t[0] == "task" else "%sb%d(c)" % (self.pre, t[1])

    def stmt(self, st, lbl, ind):
        p = "    " * ind
        k = st[0]
        sc = self.sc
        q = repr(lbl)
        if k == "sleep":
            return [p + "await su(c, %d)" % sc.S(st[1]), p + "L(%s, 'slept')" % q]
        if k == "yield":
            return [p + "await asyncio.sleep(0)", p + "L(%s, 'yielded')" % q]
        if k == "cancel":
            m = "" if st[2] is None else repr(st[2])
            return [p + "L(%s, 'cancel t%d', c.t[%d].cancel(%s))" % (q, st[1], st[1], m)]
        if k == "cancel_self":
            m = "" if st[1] is None else repr(st[1])
            return [p + "L(%s, 'cancel self', asyncio.current_task().cancel(%s))" % (q, m)]
        if k == "raise":
            return [p + "L(%s, 'raise')" % q, p + "raise %s(%s)" % (st[1], q)]
        if k == "cancelling":
            return [p + "L(%s, 'cancelling', asyncio.current_task().cancelling())" % q]
        if k == "uncancel":
            return [p + "L(%s, 'uncancel', asyncio.current_task().uncancel())" % q]
        if k == "ev_wait":
            return [p + "await c.ev[%d].wait()" % st[1], p + "L(%s, 'ev%d')" % (q, st[1])]
        if k == "ev_set":
            return [p + "c.ev[%d].set()" % st[1], p + "L(%s, 'set ev%d')" % (q, st[1])]
        if k == "ev_clear":
            return [p + "c.ev[%d].clear()" % st[1], p + "L(%s, 'clear ev%d')" % (q, st[1])]
        if k == "q_put":
            return [p + "await c.q.put(%d)" % st[1], p + "L(%s, 'put %d')" % (q, st[1])]
        if k == "q_get":
            v = self.var()
            return [p + "%s = await c.q.get()" % v, p + "L(%s, 'got', %s)" % (q, v)]
        if k == "cond_wait":
            return [p + "async with c.cond:", p + "    L(%s, 'cond locked')" % q,
                    p + "    await c.cond.wait()", p + "    L(%s, 'notified')" % q]
        if k == "cond_notify":
            call = "c.cond.notify_all()" if st[1] == "all" else "c.cond.notify(%d)" % st[1]
            return [p + "async with c.cond:", p + "    " + call,
                    p + "    L(%s, 'notify %s')" % (q, st[1])]
        if k == "await":
            v = self.var()
            return [p + "%s = await c.t[%d]" % (v, st[1]), p + "L(%s, 'await t%d', %s)" % (q, st[1], v)]
        if k in ("lock", "sem"):
            obj = "c.lock[%d]" % st[1] if k == "lock" else "c.sem"
            body = st[2] if k == "lock" else st[1]
            return ([p + "async with %s:" % obj, p + "    L(%s, 'acquired')" % q]
                    + self.body(body, lbl, ind + 1) + [p + "L(%s, 'released')" % q])
        if k == "finally":
            return ([p + "try:"] + self.body(st[1], lbl, ind + 1)
                    + [p + "finally:", p + "    L(%s, 'finally')" % q])
        if k == "try":
            _, body, catch, handler, reraise = st
            out = [p + "try:"] + self.body(body, lbl, ind + 1)
            out += [p + "except %s as e:" % CATCH[catch][0],
                    p + "    L(%s, 'caught', desc(e))" % q]
            out += self.body(handler, lbl + "h", ind + 1)
            if reraise:
                out.append(p + "    raise")
            return out
        if k == "call":
            v = self.var()
            return [p + "%s = await %sb%d(c)" % (v, self.pre, st[1]), p + "L(%s, 'call ->', %s)" % (q, v)]
        if k == "wait_for":
            v = self.var()
            return [p + "%s = await asyncio.wait_for(%s, dl(c, %d))" % (v, self.target(st[1]), sc.S(st[2])),
                    p + "L(%s, 'wait_for ->', %s)" % (q, v)]
        if k == "shield":
            v = self.var()
            return [p + "%s = await asyncio.shield(%s)" % (v, self.target(st[1])),
                    p + "L(%s, 'shield ->', %s)" % (q, v)]
        if k == "timeout":
            v = self.var()
            return [p + "async with asyncio.timeout_at(at(c, %d)):" % sc.S(st[2]),
                    p + "    %s = await %sb%d(c)" % (v, self.pre, st[1]),
                    p + "L(%s, 'timeout ->', %s)" % (q, v)]
        if k in ("gather", "gather_tasks"):
            v = self.var()
            if k == "gather":
                args = ", ".join("%sb%d(c)" % (self.pre, b) for b in st[1])
            else:
                args = ", ".join("c.t[%d]" % j for j in st[1])
            re = ", return_exceptions=True" if st[2] else ""
            return [p + "%s = await asyncio.gather(%s%s)" % (v, args, re),
                    p + "L(%s, 'gather ->', fl(%s))" % (q, v)]
        if k == "tg":
            v = self.var()
            out = [p + "%s = []" % v, p + "async with TaskGroup() as tg:"]  # prelude: 3.13's
            for b in st[1]:
                out.append(p + "    %s.append(tg.create_task(%sb%d(c)))" % (v, self.pre, b))
            out += self.body(st[2], lbl, ind + 1)
            out.append(p + "L(%s, 'tg ->', tg_results(%s))" % (q, v))
            return out
        raise AssertionError(k)


class CcEmitter:
    def __init__(self, sc):
        self.sc = sc
        self.v = 0

    def var(self):
        self.v += 1
        return "v%d" % self.v

    def emit(self):
        sc = self.sc
        out = ["namespace s%d {" % sc.seed]
        for bid in range(len(sc.blocks)):
            out.append("asyncio::Coro<int> b%d(Ctx& c);" % bid)
        for bid, stmts in enumerate(sc.blocks):
            lbl = "b%d" % bid
            out.append("asyncio::Coro<int> b%d(Ctx& c) {" % bid)
            out.append('  L("%s", "start");' % lbl)
            for i, st in enumerate(stmts):
                out += self.stmt(st, "%s.%d" % (lbl, i), 1)
            out.append('  L("%s", "return");' % lbl)
            out.append("  co_return %d;" % bid)
            out.append("}")
        out.append("asyncio::Coro<> main_(double unit) {")
        out.append("  Ctx c(unit);")
        for i, bid in enumerate(sc.tops):
            out.append('  c.names.push_back("t%d");' % i)
            out.append('  c.t.push_back(asyncio::create_task(b%d(c), "t%d"));' % (bid, i))
        out.append("  try {")
        out.append("    co_await asyncio::timeout_at(at(c, %d), b%d(c));" % (sc.end, sc.main))
        out.append("  } catch (...) {")
        out.append('    L("main raised", desc(std::current_exception()));')
        out.append("  }")
        out.append("  co_await final_phase(c, %d);" % sc.end)
        out.append("}")
        out.append("}  // namespace s%d" % sc.seed)
        out.append("")
        return out

    def body(self, stmts, lbl, ind):
        out = []
        for i, st in enumerate(stmts):
            out += self.stmt(st, "%s.%d" % (lbl, i), ind)
        return out

    def target(self, t):
        return "c.t[%d]" % t[1] if t[0] == "task" else "b%d(c)" % t[1]

    def stmt(self, st, lbl, ind):
        p = "  " * ind
        k = st[0]
        sc = self.sc
        q = '"%s"' % lbl
        if k == "sleep":
            return [p + "co_await su(c, %d);" % sc.S(st[1]), p + 'L(%s, "slept");' % q]
        if k == "yield":
            return [p + "co_await asyncio::sleep(asyncio::Duration(0));", p + 'L(%s, "yielded");' % q]
        if k == "cancel":
            m = "" if st[2] is None else '"%s"' % st[2]
            return [p + 'L(%s, "cancel t%d", c.t[%d].cancel(%s));' % (q, st[1], st[1], m)]
        if k == "cancel_self":
            m = "" if st[1] is None else '"%s"' % st[1]
            return [p + 'L(%s, "cancel self", asyncio::current_task().cancel(%s));' % (q, m)]
        if k == "raise":
            return [p + 'L(%s, "raise");' % q, p + "throw asyncio::%s(%s);" % (st[1], q)]
        if k == "cancelling":
            return [p + 'L(%s, "cancelling", asyncio::current_task().cancelling());' % q]
        if k == "uncancel":
            return [p + 'L(%s, "uncancel", asyncio::current_task().uncancel());' % q]
        if k == "ev_wait":
            return [p + "co_await c.ev[%d].wait();" % st[1], p + 'L(%s, "ev%d");' % (q, st[1])]
        if k == "ev_set":
            return [p + "c.ev[%d].set();" % st[1], p + 'L(%s, "set ev%d");' % (q, st[1])]
        if k == "ev_clear":
            return [p + "c.ev[%d].clear();" % st[1], p + 'L(%s, "clear ev%d");' % (q, st[1])]
        if k == "q_put":
            return [p + "co_await c.q.put(%d);" % st[1], p + 'L(%s, "put %d");' % (q, st[1])]
        if k == "q_get":
            v = self.var()
            return [p + "{", p + "  int %s = co_await c.q.get();" % v, p + '  L(%s, "got", %s);' % (q, v), p + "}"]
        if k == "cond_wait":
            g = self.var()
            return [p + "{", p + "  auto %s = co_await c.cond.lock();" % g, p + '  L(%s, "cond locked");' % q,
                    p + "  co_await c.cond.wait();", p + '  L(%s, "notified");' % q, p + "}"]
        if k == "cond_notify":
            g = self.var()
            call = "c.cond.notify_all();" if st[1] == "all" else "c.cond.notify(%d);" % st[1]
            return [p + "{", p + "  auto %s = co_await c.cond.lock();" % g, p + "  " + call,
                    p + '  L(%s, "notify %s");' % (q, st[1]), p + "}"]
        if k == "await":
            v = self.var()
            return [p + "{", p + "  int %s = co_await c.t[%d];" % (v, st[1]),
                    p + '  L(%s, "await t%d", %s);' % (q, st[1], v), p + "}"]
        if k in ("lock", "sem"):
            g = self.var()
            obj = "c.lock[%d]" % st[1] if k == "lock" else "c.sem"
            body = st[2] if k == "lock" else st[1]
            return ([p + "{", p + "  auto %s = co_await %s.lock();" % (g, obj), p + '  L(%s, "acquired");' % q]
                    + self.body(body, lbl, ind + 1) + [p + "}", p + 'L(%s, "released");' % q])
        if k in ("finally", "try"):
            e = self.var()
            out = [p + "{", p + "  std::exception_ptr %s;" % e, p + "  try {"]
            out += self.body(st[1], lbl, ind + 2)
            out += [p + "  } catch (...) {", p + "    %s = std::current_exception();" % e, p + "  }"]
            if k == "finally":
                out += [p + '  L(%s, "finally");' % q, p + "  if (%s) std::rethrow_exception(%s);" % (e, e)]
            else:
                _, body, catch, handler, reraise = st
                out += [p + "  if (%s) {" % e,
                        p + "    if (!is_<%s>(%s)) std::rethrow_exception(%s);" % (CATCH[catch][1], e, e),
                        p + '    L(%s, "caught", desc(%s));' % (q, e)]
                out += self.body(handler, lbl + "h", ind + 2)
                if reraise:
                    out.append(p + "    std::rethrow_exception(%s);" % e)
                out.append(p + "  }")
            out.append(p + "}")
            return out
        if k == "call":
            v = self.var()
            return [p + "{", p + "  int %s = co_await b%d(c);" % (v, st[1]), p + '  L(%s, "call ->", %s);' % (q, v), p + "}"]
        if k == "wait_for":
            v = self.var()
            return [p + "{",
                    p + "  int %s = co_await asyncio::wait_for(%s, asyncio::Duration(dl(c, %d)));"
                    % (v, self.target(st[1]), sc.S(st[2])),
                    p + '  L(%s, "wait_for ->", %s);' % (q, v), p + "}"]
        if k == "shield":
            v = self.var()
            return [p + "{", p + "  int %s = co_await asyncio::shield(%s);" % (v, self.target(st[1])),
                    p + '  L(%s, "shield ->", %s);' % (q, v), p + "}"]
        if k == "timeout":
            v = self.var()
            return [p + "{", p + "  int %s = co_await asyncio::timeout_at(at(c, %d), b%d(c));" % (v, sc.S(st[2]), st[1]),
                    p + '  L(%s, "timeout ->", %s);' % (q, v), p + "}"]
        if k in ("gather", "gather_tasks"):
            v, w = self.var(), self.var()
            if k == "gather":
                out = [p + "{", p + "  std::vector<asyncio::Coro<int>> %s;" % w]
                out += [p + "  %s.push_back(b%d(c));" % (w, b) for b in st[1]]
            else:
                out = [p + "{", p + "  std::vector<asyncio::Task<int>> %s;" % w]
                out += [p + "  %s.push_back(c.t[%d]);" % (w, j) for j in st[1]]
            re = "asyncio::return_exceptions, " if st[2] else ""
            out += [p + "  auto %s = co_await asyncio::gather(%sstd::move(%s));" % (v, re, w),
                    p + '  L(%s, "gather ->", fl(%s));' % (q, v), p + "}"]
            return out
        if k == "tg":
            v = self.var()
            out = [p + "{", p + "  std::vector<asyncio::Task<int>> %s;" % v,
                   p + "  co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coro<> {"]
            for b in st[1]:
                out.append(p + "    %s.push_back(tg.create_task(b%d(c)));" % (v, b))
            out += self.body(st[2], lbl, ind + 2)
            out += [p + "    co_return;", p + "  });", p + '  L(%s, "tg ->", tg_results(%s));' % (q, v), p + "}"]
            return out
        raise AssertionError(k)


def write_batch(outdir, name, seeds):
    py = ["# generated by tests/difftest/gen.py; do not edit", "import sys",
          "sys.path.insert(0, %r)" % sys.path[0], "from prelude import *  # noqa: F401,F403", ""]
    cc = ["// generated by tests/difftest/gen.py; do not edit", '#include "prelude.hpp"',
          "namespace {", "using namespace difftest;"]
    for seed in seeds:
        sc = Scenario(seed)
        py += PyEmitter(sc).emit()
        cc += CcEmitter(sc).emit()
    py.append("TABLE = {%s}" % ", ".join("'s%d': s%d_main" % (s, s) for s in seeds))
    py += ["", "if __name__ == '__main__':", "    drive(TABLE, sys.argv)", ""]
    cc.append("}  // namespace")
    cc.append("int main(int argc, char** argv) {")
    cc.append("  static const std::map<std::string, difftest::Scenario> table = {")
    cc += ['      {"s%d", &s%d::main_},' % (s, s) for s in seeds]
    cc += ["  };", "  return difftest::drive(table, argc, argv);", "}", ""]
    with open("%s/%s.py" % (outdir, name), "w") as f:
        f.write("\n".join(py))
    with open("%s/%s.cpp" % (outdir, name), "w") as f:
        f.write("\n".join(cc))


if __name__ == "__main__":
    outdir, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    per = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    seeds = list(range(first, first + count))
    for k in range(0, count, per):
        write_batch(outdir, "batch_%d" % (k // per), seeds[k:k + per])

# Shared helpers of the generated Python scenarios (tests/difftest). Mirrors prelude.hpp line
# for line: every helper here prints exactly what its C++ twin prints.
import asyncio
import sys


class Ctx:
    def __init__(self, unit):
        self.unit = unit
        self.t0 = asyncio.get_running_loop().time()
        self.lock = [asyncio.Lock(), asyncio.Lock()]
        self.sem = asyncio.Semaphore(2)
        self.ev = [asyncio.Event(), asyncio.Event()]
        self.cond = asyncio.Condition()
        self.q = asyncio.Queue(1)
        self.t = []
        self.names = []


def _s(x):
    if isinstance(x, bool):
        return "True" if x else "False"
    return str(x)


def L(*args):
    print(" ".join(_s(a) for a in args))


def desc(e):
    if isinstance(e, asyncio.CancelledError):
        # The message is not compared. CPython 3.12 gives the cancel() message only to the
        # first one to retrieve a cancelled task's outcome (Future._make_cancelled_error hands
        # out the saved exception once); every later `await task`, gather() slot or result()
        # gets a CancelledError without it. The library gives the message to every retriever:
        # docs/python-mapping.md, "The cancel() message reaches every awaiter".
        return "CancelledError"
    if isinstance(e, TimeoutError):
        # Normalised: CPython raises TimeoutError() with no message, the library's what() is
        # "asyncio::TimeoutError: the operation timed out" (the type is what matters).
        return "TimeoutError"
    if isinstance(e, BaseExceptionGroup):
        return "%s(%s)[%s]" % (type(e).__name__, e.message, ", ".join(desc(x) for x in e.exceptions))
    return "%s(%s)" % (type(e).__name__, e)


class TaskGroup(asyncio.TaskGroup):
    """CPython 3.12's TaskGroup with 3.13's __aexit__ (gh-116720), which the library follows
    (docs/python-mapping.md, "Python 3.13-3.15 additions"): the group withdraws its own
    cancellation of the parent task after waiting for the children instead of before, and an
    ExceptionGroup raised while the parent still has cancellation requests from outside
    re-cancels the parent, so they are delivered at its next await. Written from the 3.13
    semantics, on 3.12's private attributes."""

    async def __aexit__(self, et, exc, tb):
        self._exiting = True
        if exc is not None and self._is_base_error(exc) and self._base_error is None:
            self._base_error = exc
        propagate = exc if et is not None and issubclass(et, asyncio.CancelledError) else None
        if et is not None and not self._aborting:
            self._abort()
        while self._tasks:
            if self._on_completed_fut is None:
                self._on_completed_fut = self._loop.create_future()
            try:
                await self._on_completed_fut
            except asyncio.CancelledError as ex:
                if not self._aborting:
                    propagate = ex
                    self._abort()
            self._on_completed_fut = None
        if self._base_error is not None:
            raise self._base_error
        if self._parent_cancel_requested and self._parent_task.uncancel() == 0:
            propagate = None
        if propagate is not None and not self._errors:
            raise propagate
        if et is not None and not issubclass(et, asyncio.CancelledError):
            self._errors.append(exc)
        if self._errors:
            if self._parent_task.cancelling():
                self._parent_task.uncancel()
                self._parent_task.cancel()
            errors, self._errors = self._errors, None
            raise BaseExceptionGroup("unhandled errors in a TaskGroup", errors) from None
        return True


def fl(rs):
    return "[" + ", ".join(desc(x) if isinstance(x, BaseException) else str(x) for x in rs) + "]"


def tg_results(ts):
    return "[" + ", ".join(str(t.result()) for t in ts) + "]"


def dl(c, s):
    """Seconds from now to the deadline of slot s (may be <= 0 once the slot has passed)."""
    return c.t0 + s * c.unit - asyncio.get_running_loop().time()


def at(c, s):
    return c.t0 + s * c.unit


async def su(c, s):
    """Sleeps until slot s; a slot already passed yields once (sleep(0))."""
    await asyncio.sleep(max(0.0, dl(c, s)))


def state(t):
    if not t.done():
        return "pending"
    if t.cancelled():
        return "cancelled"
    e = t.exception()
    return "exc " + desc(e) if e is not None else "result %d" % t.result()


async def final(c, end):
    """After the last slot: cancel what is left (deadlocks, waits nobody satisfies), report."""
    await su(c, end)
    L("end")
    for _ in range(10):
        pend = [t for t in c.t if not t.done()]
        if not pend:
            break
        for i, t in enumerate(c.t):
            if not t.done():
                L("final cancel", c.names[i], t.cancel("final"))
        await asyncio.wait(pend, timeout=c.unit * 5)
    for i, t in enumerate(c.t):
        L(c.names[i], state(t), t.cancelling())


def drive(table, argv):
    unit = float(argv[1])
    for name in argv[2:]:
        print("=== " + name)
        try:
            asyncio.run(table[name](unit))
        except BaseException as e:  # noqa: B036 - the C++ driver catches everything too
            L("run raised", desc(e))
        sys.stdout.flush()

# gdb extension for asyncio for C++: the tasks of every event loop and their await chains, read
# out of a live process or a core file without running any code of the program.
#
#   (gdb) source <prefix>/share/asyncio/gdb/asyncio.py
#   (gdb) asyncio ps            every task of every loop, as a tree by who awaits whom
#   (gdb) asyncio bt <task>     one task's call graph (Python 3.14's print_call_graph layout);
#                               <task> is a name ('Task-3'), a number (3) or an address
#
# What it reads (debug info of the program, see docs/debugging.md):
#   asyncio::detail::debug_loops            array of EventLoop*, null where free (src/graph.cpp)
#   EventLoop::pending_tasks_               intrusive list of the loop's pending tasks
#   TaskBase::root_ / waiter_ / awaited_by_ / name_ / number_ / num_cancels_requested_ /
#   creation_site_                          (include/asyncio/detail/task_base.hpp)
#   CoroPromiseBase::callee / await_site    at offset 16 of every Coro frame (coroutines.hpp)
# A task's call stack starts at its root coroutine and follows `callee` down; await_site is a
# std::source_location (file, line, function) recorded when the program was built with
# ASYNCIO_CALL_GRAPH (the default in debug builds).

import ctypes
import re

import gdb

_PROMISE_OFFSET = 16  # resume and destroy pointers precede the promise in GCC/Clang frames


def _type(name):
    return gdb.lookup_type(name)


def _field(value, name):
    """value[name], searching base classes too (gdb does that for plain names)."""
    return value[name]


def _head_impl(value):
    """The raw pointer inside a std::unique_ptr (libstdc++ layout, any version)."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = v.type.strip_typedefs()
        if t.code == gdb.TYPE_CODE_PTR:
            return v
        if t.code not in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
            continue
        for f in t.fields():
            if f.name == "_M_head_impl":
                return v[f]
        for f in t.fields():
            try:
                stack.append(v[f])
            except gdb.error:
                pass
    return None


def _std_string(value):
    try:
        length = int(value["_M_string_length"])
        return value["_M_dataplus"]["_M_p"].string(length=length)
    except gdb.error:
        return str(value)


def _cstr(ptr):
    try:
        return ptr.string() if int(ptr) != 0 else ""
    except gdb.error:
        return "?"


_cxa_demangle = None


def _demangle(mangled):
    """libstdc++'s own demangler (gdb's `demangle` command rejects some names it accepts)."""
    global _cxa_demangle
    try:
        if _cxa_demangle is None:
            lib = ctypes.CDLL("libstdc++.so.6")
            _cxa_demangle = lib.__cxa_demangle
            _cxa_demangle.restype = ctypes.c_void_p
            _cxa_demangle.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.POINTER(ctypes.c_int)]
        status = ctypes.c_int(-1)
        p = _cxa_demangle(mangled.encode(), None, None, ctypes.byref(status))
        if status.value == 0 and p:
            out = ctypes.string_at(p).decode()
            ctypes.CDLL(None).free(ctypes.c_void_p(p))
            return out
    except (OSError, AttributeError, UnicodeDecodeError):
        pass
    try:
        out = gdb.execute("demangle " + mangled, to_string=True).strip()
        return out if out and "Can't demangle" not in out else None
    except gdb.error:
        return None


def _strip_return_type(name):
    depth, start = 0, 0
    for i, c in enumerate(name):
        if c in "<([{":
            depth += 1
        elif c in ">)]}":
            depth -= 1
        elif c == " " and depth == 0:
            start = i + 1
    return name[start:]


def _simplify(name):
    """Drops parameter lists and template arguments (src/graph.cpp: simplify)."""
    out, depth, i = "", 0, 0
    while i < len(name):
        c = name[i]
        if depth == 0:
            if c == "{":
                close = name.find("}", i)
                close = len(name) - 1 if close < 0 else close
                out += name[i:close + 1]
                i = close + 1
                continue
            if name.startswith("(anonymous namespace)", i):
                out += "(anonymous namespace)"
                i += 21
                continue
            after_operator = out.endswith("operator")
            if after_operator and name.startswith("()", i):
                out += "()"
                i += 2
                continue
            if c in "(<" and not after_operator:
                depth = 1
                i += 1
                continue
            out += c
        else:
            if c in "(<":
                depth += 1
            elif c in ")>":
                depth -= 1
        i += 1
    return out


def readable_function_name(function_name):
    """Same rule as asyncio::detail::readable_function_name (src/graph.cpp)."""
    if not function_name:
        return "?"
    name = function_name
    found = re.findall(r"::(_Z\w+)\.Frame\*\)", function_name)
    if found:  # the last one: template arguments may name other coroutines' frames
        demangled = _demangle(found[-1])
        if demangled:
            name = demangled
    changed = True
    while changed:
        changed = False
        for q in (" const", " volatile", " &&", " &", " noexcept"):
            if name.endswith(q):
                name, changed = name[:-len(q)], True
    return _simplify(_strip_return_type(name))


def _site(site):
    """(file, line, function) of an AwaitSite, or None if not recorded."""
    t = site.type.strip_typedefs()
    names = [f.name for f in t.fields()]
    if "_M_impl" in names:  # std::source_location
        impl = site["_M_impl"]
        if int(impl) == 0:
            return None
        impl = impl.dereference()
        line = int(impl["_M_line"])
        if line == 0:
            return None
        return (_cstr(impl["_M_file_name"]), line, _cstr(impl["_M_function_name"]))
    line = int(site["line_"])  # the builtin-based fallback (Clang 14)
    if line == 0:
        return None
    return (_cstr(site["file"]), line, _cstr(site["function"]))


class Task:
    """A pending task read from memory."""

    def __init__(self, ptr):
        self.ptr = ptr  # asyncio::detail::TaskBase*
        self.value = ptr.dereference()

    @property
    def address(self):
        return int(self.ptr)

    @property
    def number(self):
        return int(self.value["number_"])

    @property
    def name(self):
        p = _head_impl(self.value["name_"])
        if p is not None and int(p) != 0:
            return _std_string(p.dereference())
        return "Task-%d" % self.number

    @property
    def cancelling(self):
        return int(self.value["num_cancels_requested_"])

    @property
    def awaited_by(self):
        p = self.value["awaited_by_"]
        return int(p)

    def frames(self):
        """[(function, file, line)], innermost first."""
        chain = []
        root = int(self.value["root_"]["_M_fr_ptr"])
        promise_t = _type("asyncio::detail::CoroPromiseBase").pointer()
        p = gdb.Value(root + _PROMISE_OFFSET).cast(promise_t) if root else None
        while p is not None and int(p) != 0 and len(chain) < 100000:
            promise = p.dereference()
            chain.append(_site(promise["await_site"]))
            p = promise["callee"]
        if chain and chain[0] is None:
            return []  # not started
        out = []
        for s in reversed(chain):
            if s is None:
                out.append(("?", "", 0))
            else:
                out.append((readable_function_name(s[2]), s[0], s[1]))
        return out

    def creation_site(self):
        return _site(self.value["creation_site_"])

    def waiter(self):
        w = self.value["waiter_"]
        if int(w) == 0:
            return None
        try:
            return w.dereference().cast(w.dynamic_type.target())
        except gdb.error:
            return w.dereference()

    def awaited_future(self):
        """Address of the future/task the waiter awaits (FutureAwaiter, WaitDone), or 0."""
        w = self.waiter()
        if w is None:
            return 0
        try:
            f = w["future_"]
        except gdb.error:
            return 0
        t = f.type.strip_typedefs()
        if t.code == gdb.TYPE_CODE_PTR:
            return int(f.cast(_type("asyncio::detail::FutureBase").pointer()))
        p = f["p_"]  # Ref<Impl>
        return int(p.cast(_type("asyncio::detail::FutureBase").pointer()))

    def waiting_on(self, by_future):
        w = self.waiter()
        if w is None:
            return ""
        tname = str(w.type.strip_typedefs())
        if "QueueWaiter" in tname:
            kind = str(w["kind_"]).split("::")[-1]
            return "Queue." + kind.lower()
        if "LockAcquire" in tname:
            return "Lock.acquire"
        if "SemaphoreAcquire" in tname:
            return "Semaphore.acquire"
        if "EventWait" in tname:
            return "Event.wait"
        if "Condition" in tname:
            return "Condition.wait"
        if "SleepAwaiter" in tname:
            return "sleep"
        if "StreamWaitAwaiter" in tname:
            return "StreamReader." + _cstr(w["func_name_"])
        try:
            fd = int(w["fd_"])
            return "%s fd=%d" % (_cstr(w["what_"]) or "sock", fd)
        except gdb.error:
            pass
        fut = self.awaited_future()
        if fut:
            if fut in by_future:
                return "Task '%s'" % by_future[fut].name
            return ("wait " if "WaitDone" in tname else "") + "Future"
        return tname


def _pending_tasks(loop):
    """The TaskBase* of a loop's pending_tasks_ list."""
    task_t = _type("asyncio::detail::TaskBase")
    # Offset of the PendingTask base (whose first base is the ListNode) inside TaskBase.
    offset = None
    for f in task_t.fields():
        if f.is_base_class and f.type.strip_typedefs().tag == "asyncio::detail::PendingTask":
            offset = f.bitpos // 8
    if offset is None:
        raise gdb.GdbError("asyncio: TaskBase has no PendingTask base (no debug info?)")
    head = loop["pending_tasks_"]["head_"]
    head_addr = int(head.address)
    node = head["next"]
    tasks = []
    while int(node) != 0 and int(node) != head_addr and len(tasks) < 10000000:
        tasks.append(Task(gdb.Value(int(node) - offset).cast(task_t.pointer())))
        node = node.dereference()["next"]
    return tasks


def _loops():
    sym = gdb.lookup_global_symbol("asyncio::detail::debug_loops")
    if sym is None:
        raise gdb.GdbError("asyncio: no asyncio::detail::debug_loops in this program "
                           "(not linked with asyncio for C++, or no debug info)")
    arr = sym.value()
    n = arr.type.strip_typedefs().range()[1] + 1
    loops = []
    for i in range(n):
        p = arr[i]
        if int(p) != 0:
            loops.append(p)
    return loops


def _all_tasks():
    result = []
    for loop in _loops():
        result.append((loop, _pending_tasks(loop.dereference())))
    return result


def _parents(task, tasks, by_future):
    parents = []
    for t in tasks:
        if t.address == task.address:
            continue
        if task.awaited_by == t.address or t.awaited_future() == task.address:
            parents.append(t)
    return parents


def _site_str(f):
    return "%s:%d" % (f[1], f[2]) if f[2] else "?"


def _header(task, by_future, running):
    state = "cancelling %d" % task.cancelling if task.cancelling else "pending"
    s = "(T) Task(name='%s', id=%#x) %s" % (task.name, task.address, state)
    if task.address == running:
        s += " (running)"
    w = task.waiting_on(by_future)
    if w:
        s += ", waiting on " + w
    return s


def format_ps():
    out = []
    for loop, tasks in _all_tasks():
        by_future = {t.address: t for t in tasks}
        running = int(loop.dereference()["current_task_"])
        out.append("asyncio: %d pending task%s of loop %#x"
                   % (len(tasks), "" if len(tasks) == 1 else "s", int(loop)))
        parents = {t.address: _parents(t, tasks, by_future) for t in tasks}
        children = {t.address: [] for t in tasks}
        for t in tasks:
            if parents[t.address]:
                children[parents[t.address][0].address].append(t)
        placed = set()

        def render(t, prefix, last):
            placed.add(t.address)
            out.append(prefix + ("└── " if last else "├── ") + _header(t, by_future, running))
            inner = prefix + ("    " if last else "│   ")
            bar = "│   " if children[t.address] else "    "
            for f in t.frames():
                out.append(inner + bar + "at %s() %s" % (f[0], _site_str(f)))
            for p in parents[t.address][1:]:
                out.append(inner + bar + "also awaited by " + p.name)
            kids = [c for c in children[t.address] if c.address not in placed]
            for i, c in enumerate(kids):
                render(c, inner, i + 1 == len(kids))

        roots = [t for t in tasks if not parents[t.address]]
        for i, t in enumerate(roots):
            render(t, "", i + 1 == len(roots))
        for t in tasks:
            if t.address not in placed:
                render(t, "", True)
    return "\n".join(out)


def _render_graph(task, tasks, by_future, buf, level, path):
    indent = " " * (4 * level)
    buf.append(indent + "* Task(name='%s', id=%#x)" % (task.name, task.address))
    frames = task.frames()
    if frames:
        buf.append(indent + "  + Call stack:")
        for f in frames:
            buf.append(indent + "  |   File '%s', line %d, in async %s()" % (f[1], f[2], f[0]))
    w = task.waiting_on(by_future)
    if w:
        buf.append(indent + "  + Waiting on: " + w)
    parents = [p for p in _parents(task, tasks, by_future) if p.address not in path]
    if parents:
        buf.append(indent + "  + Awaited by:")
        for p in parents:
            _render_graph(p, tasks, by_future, buf, level + 1, path | {task.address})


def format_bt(spec):
    spec = spec.strip()
    for loop, tasks in _all_tasks():
        by_future = {t.address: t for t in tasks}
        for t in tasks:
            match = (t.name == spec.strip("'\"") or spec == str(t.number)
                     or (spec.startswith("0x") and int(spec, 16) == t.address))
            if match:
                buf = []
                _render_graph(t, tasks, by_future, buf, 0, frozenset())
                site = t.creation_site()
                if site:
                    buf.append("  (created at %s:%d)" % (site[0], site[1]))
                return "\n".join(buf)
    raise gdb.GdbError("asyncio bt: no pending task %r" % spec)


class AsyncioPrefix(gdb.Command):
    """asyncio for C++: inspect event loops and tasks (asyncio ps, asyncio bt TASK)."""

    def __init__(self):
        super().__init__("asyncio", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class AsyncioPs(gdb.Command):
    """Every pending task of every event loop, as a tree by who awaits whom, with what each
waits on and its await chain (innermost first)."""

    def __init__(self):
        super().__init__("asyncio ps", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        gdb.write(format_ps() + "\n")


class AsyncioBt(gdb.Command):
    """asyncio bt TASK: the call graph of one task (its await chain, innermost first, and the
tasks awaiting it). TASK: a task name ('Task-3' or a given name), a number, or an address."""

    def __init__(self):
        super().__init__("asyncio bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: asyncio bt TASK (a name, a number or an address)")
        gdb.write(format_bt(arg) + "\n")


AsyncioPrefix()
AsyncioPs()
AsyncioBt()

#!/usr/bin/env python3
"""The benchmark suite's driver (run by scripts/bench.sh, i.e. `make bench`).

    bench/harness.py BUILD_DIR

Runs the micro-workloads of our library and of the peers (Python asyncio, uvloop, Boost.Asio),
the network echo workloads against every echo server, and callgrind instruction counts; prints
one table per workload and writes them as Markdown and JSON under bench/results/.
Method and options: bench/README.md. Options come from the environment:

    BENCH_FILTER=micro,net.lockstep,callgrind   run only sections matching these regexes
                                                (matched against e.g. "micro.spawn",
                                                "net.lockstep-c64-s1024", "callgrind.timers")
    BENCH_IMPLS=regex        run only the implementations whose name matches
    BENCH_QUICK=1            1 round, sizes / 10, 0.5 s network windows (smoke test)
    BENCH_ROUNDS=N           rounds per figure (default 3)
    BENCH_SCALE=F            multiply every micro size N by F
    BENCH_NET_DURATION=S     measured seconds per network run (default 2)
    BENCH_NET_WARMUP=S       warm-up seconds per network run (default 0.5)
    BENCH_RESULTS=DIR        where to write results (default bench/results)
"""
import glob
import json
import math
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers")


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = int(env_float("BENCH_ROUNDS", 1 if QUICK else 3))
SCALE = env_float("BENCH_SCALE", 0.1 if QUICK else 1.0)
NET_DURATION = env_float("BENCH_NET_DURATION", 0.5 if QUICK else 2.0)
NET_WARMUP = env_float("BENCH_NET_WARMUP", 0.2 if QUICK else 0.5)
FILTERS = [f for f in os.environ.get("BENCH_FILTER", "").split(",") if f.strip()]
IMPL_FILTER = os.environ.get("BENCH_IMPLS", "")
RUN_TIMEOUT = 600


def selected(name):
    return not FILTERS or any(re.search(f.strip(), name) for f in FILTERS)


def impl_selected(name):
    return not IMPL_FILTER or re.search(IMPL_FILTER, name)


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# Implementations
# ---------------------------------------------------------------------------------------------

def find_python312():
    try:
        out = subprocess.run(["pyenv", "which", "python3.12"], env=dict(os.environ, PYENV_VERSION="3.12.1"),
                             capture_output=True, text=True, timeout=30)
        path = out.stdout.strip()
        if out.returncode == 0 and os.path.exists(path):
            return path
    except (OSError, subprocess.SubprocessError):
        pass
    for cand in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))) + \
            [shutil.which("python3.12") or ""]:
        if cand and os.path.exists(cand):
            try:
                v = subprocess.run([cand, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                                   capture_output=True, text=True, timeout=30).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                continue
            if v == "True":
                return cand
    return None


def python_version(py):
    return subprocess.run([py, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                          capture_output=True, text=True, timeout=30).stdout.strip()


def has_uvloop(py):
    r = subprocess.run([py, "-c", "import uvloop; print(uvloop.__version__)"], capture_output=True,
                       text=True, timeout=30)
    return r.stdout.strip() if r.returncode == 0 else None


class Impl:
    """One alternative: how to run it, or why it is missing."""

    def __init__(self, name, label, cmd, missing=None):
        self.name, self.label, self.cmd, self.missing = name, label, cmd, missing


def discover(build):
    bdir = os.path.join(build, "bench")
    py312 = find_python312()
    debian_py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
    uv = has_uvloop(debian_py) if debian_py else None
    pys = []
    if py312:
        pys.append(("python3.12-asyncio", "Python %s asyncio" % python_version(py312), [py312]))
    else:
        pys.append(("python3.12-asyncio", "Python 3.12 asyncio", None))
    if debian_py:
        pys.append(("python3-debian-asyncio", "Python %s asyncio (Debian)" % python_version(debian_py),
                    [debian_py]))
    uv_impl = ("uvloop", "uvloop %s (Python %s)" % (uv, python_version(debian_py)) if uv else "uvloop",
               [debian_py, "--uvloop"] if uv else None)

    def binary(name):
        p = os.path.join(bdir, name)
        return p if os.access(p, os.X_OK) else None

    micro = {}

    def add_micro(name, label, cmd, missing):
        micro[name] = Impl(name, label, cmd, None if cmd else missing)

    ours = binary("asyncio_micro")
    ours_cg = binary("asyncio_micro_callgraph")
    ours_sync = binary("asyncio_micro_sync")
    asio = binary("asio_micro")
    add_micro("asyncio-cpp", "asyncio-cpp (ours)", [ours] if ours else None, "not built (asyncio_micro)")
    add_micro("asyncio-cpp-callgraph", "asyncio-cpp (ours), ASYNCIO_CALL_GRAPH=1",
              [ours_cg] if ours_cg else None, "not built (asyncio_micro_callgraph)")
    add_micro("asyncio-cpp-sync", "asyncio-cpp (ours)", [ours_sync] if ours_sync else None,
              "not built (asyncio_micro_sync: Event/Queue headers missing or not compiling)")
    add_micro("boost-asio", "Boost.Asio (C++20 coroutines)", [asio] if asio else None,
              "not built (asio_micro: apt-get install libboost-dev)")
    script = os.path.join(PEERS, "micro_asyncio.py")
    for name, label, py in pys:
        add_micro(name, label, [py[0], script] + py[1:] if py else None, "interpreter not found")
    name, label, py = uv_impl
    add_micro(name, label, [py[0], script] + py[1:] if py else None,
              "not installed (apt-get install python3-uvloop)")

    servers = []

    def add_server(name, label, cmd, missing):
        servers.append(Impl(name, label, cmd, None if cmd else missing))

    b = binary("epoll_echo")
    add_server("epoll-c", "raw epoll, C (reference)", [b] if b else None, "not built (epoll_echo)")
    b = binary("asyncio_streams_echo")
    add_server("asyncio-cpp-streams", "asyncio-cpp streams (ours)", [b] if b else None,
               "not built (bench/servers/asyncio_streams_echo.cpp: networking layer missing or not compiling)")
    b = binary("asyncio_streams_readinto_echo")
    add_server("asyncio-cpp-streams-readinto", "asyncio-cpp streams readinto (ours)", [b] if b else None,
               "not built (bench/servers/asyncio_streams_readinto_echo.cpp)")
    b = binary("asyncio_protocol_echo")
    add_server("asyncio-cpp-protocol", "asyncio-cpp protocol (ours)", [b] if b else None,
               "not built (bench/servers/asyncio_protocol_echo.cpp: networking layer missing or not compiling)")
    b = binary("asyncio_sock_echo")
    add_server("asyncio-cpp-sock", "asyncio-cpp sock_* API (ours)", [b] if b else None,
               "not built (bench/servers/asyncio_sock_echo.cpp: sockets.hpp missing or not compiling)")
    b = binary("asio_echo")
    add_server("boost-asio", "Boost.Asio coroutines", [b] if b else None,
               "not built (asio_echo: apt-get install libboost-dev)")
    escript = os.path.join(PEERS, "echo_asyncio.py")
    for name, label, py in pys:
        add_server(name, label + " protocol", [py[0], escript] if py else None, "interpreter not found")
    name, label, py = uv_impl
    add_server(name, label + " protocol", [py[0], escript, "--uvloop"] if py else None,
               "not installed (apt-get install python3-uvloop)")
    return micro, servers, {"loadgen": binary("loadgen")}


# ---------------------------------------------------------------------------------------------
# Statistics and tables
# ---------------------------------------------------------------------------------------------

def summarize(values):
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None
    med = statistics.median(vals)
    return {"median": med, "min": min(vals), "max": max(vals), "n": len(vals),
            "spread_pct": (100.0 * (max(vals) - min(vals)) / abs(med)) if med else 0.0}


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    a = abs(v)
    if a >= 1e6:
        return "%.3gM" % (v / 1e6) if a < 1e9 else "%.3gG" % (v / 1e9)
    if a >= 1e4:
        return "%.0fk" % (v / 1e3)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.*g" % (digits, v)


class Table:
    def __init__(self, title, columns, notes=()):
        self.title, self.columns, self.rows, self.notes = title, columns, [], list(notes)

    def add(self, cells):
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])

    def markdown(self):
        out = ["### " + self.title, ""]
        out.append("| " + " | ".join(self.columns) + " |")
        out.append("|" + "|".join("---" for _ in self.columns) + "|")
        for r in self.rows:
            out.append("| " + " | ".join(r) + " |")
        for n in self.notes:
            out.append("")
            out.append(n)
        return "\n".join(out) + "\n"

    def text(self):
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
                  for i, c in enumerate(self.columns)]
        lines = ["== " + self.title]
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths)))
        for r in self.rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        lines.extend(self.notes)
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Micro-workloads
# ---------------------------------------------------------------------------------------------

# workload -> (variants: list of (impl, workload arg, variant label)), sizes, metrics
MICRO = {
    "spawn": {
        "desc": "create_task + await of N trivial tasks (all created first, then awaited in order)",
        "runs": [("asyncio-cpp", "spawn", ""),
                 ("asyncio-cpp", "spawn --factory eager", "eager_task_factory"),
                 ("boost-asio", "spawn", "co_spawn + join counter"),
                 ("python3.12-asyncio", "spawn", ""),
                 ("python3.12-asyncio", "spawn --factory eager", "eager_task_factory"),
                 ("python3-debian-asyncio", "spawn", ""),
                 ("uvloop", "spawn", "")],
        "n": {"*": 1000000, "python": 200000},
        "primary": ("ns_per_task", "ns/task", False),
        "columns": [("tasks_per_s", "tasks/s"), ("heap_bytes_per_task", "heap B/task"),
                    ("rss_bytes_per_task", "RSS B/task"), ("frame_bytes", "frame B")],
    },
    "chain": {
        "desc": "await chain: a coroutine awaiting a coroutine ... depth 1,000, N times (ns per level)",
        "runs": [("asyncio-cpp", "chain", ""),
                 ("asyncio-cpp-callgraph", "chain", "await sites recorded"),
                 ("boost-asio", "chain", ""),
                 ("python3.12-asyncio", "chain", ""), ("python3-debian-asyncio", "chain", ""),
                 ("uvloop", "chain", "")],
        "n": {"*": 2000, "python": 500},
        "extra": ["--depth", "1000"],
        "primary": ("ns_per_level", "ns/level", False),
        "columns": [],
    },
    "switch": {
        "desc": "two tasks handing control to each other (ns per hand-off = time / (2 x round trips))",
        "runs": [("asyncio-cpp", "switch_future", "Future<void>"),
                 ("asyncio-cpp-callgraph", "switch_future", "Future<void>, await sites recorded"),
                 ("asyncio-cpp", "switch_future --runner loop", "Future<void>, bare EventLoop (no run())"),
                 ("asyncio-cpp-sync", "switch_event", "Event"),
                 ("asyncio-cpp-sync", "switch_queue", "Queue"),
                 ("boost-asio", "switch_timer_event", "steady_timer as event"),
                 ("python3.12-asyncio", "switch_future", "Future"),
                 ("python3.12-asyncio", "switch_event", "Event"),
                 ("python3.12-asyncio", "switch_queue", "Queue"),
                 ("python3-debian-asyncio", "switch_future", "Future"),
                 ("python3-debian-asyncio", "switch_event", "Event"),
                 ("python3-debian-asyncio", "switch_queue", "Queue"),
                 ("uvloop", "switch_future", "Future"), ("uvloop", "switch_event", "Event"),
                 ("uvloop", "switch_queue", "Queue")],
        "n": {"*": 500000, "python": 100000},
        "primary": ("ns_per_switch", "ns/switch", False),
        "columns": [],
    },
    "lock": {
        "desc": "uncontended Lock: acquire + release in one task (ns per pair)",
        "runs": [("asyncio-cpp-sync", "lock", "acquire() / release()"),
                 ("asyncio-cpp-sync", "lock_guard", "co_await lock.lock() guard"),
                 ("python3.12-asyncio", "lock", "acquire() / release()"),
                 ("python3.12-asyncio", "lock_guard", "async with lock"),
                 ("python3-debian-asyncio", "lock", "acquire() / release()"),
                 ("uvloop", "lock", "acquire() / release()")],
        "n": {"*": 2000000, "python": 500000},
        "primary": ("ns_per_op", "ns/op", False),
        "columns": [],
    },
    "to_thread": {
        "desc": "to_thread(trivial function) awaited one after another: wall ns per round trip (loop thread -> pool thread -> loop thread)",
        "runs": [("asyncio-cpp-sync", "to_thread", ""),
                 ("python3.12-asyncio", "to_thread", ""),
                 ("python3-debian-asyncio", "to_thread", ""),
                 ("uvloop", "to_thread", "")],
        "n": {"*": 20000, "python": 20000},
        "primary": ("ns_per_op", "wall ns/op", False),
        "columns": [("cpu_ns_per_op", "CPU ns/op")],
    },
    "sleepers": {
        "desc": "N concurrent tasks each doing sleep(1 s): wall time from the first create_task to the last task done",
        "runs": [("asyncio-cpp", "sleepers", ""), ("boost-asio", "sleepers", "co_spawn + steady_timer"),
                 ("python3.12-asyncio", "sleepers", ""), ("python3-debian-asyncio", "sleepers", ""),
                 ("uvloop", "sleepers", "")],
        "n": {"*": 1000000, "python": 200000},
        "extra": ["--delay", "1"],
        "primary": ("wall_s", "wall s", False),
        "columns": [("cpu_s", "CPU s"), ("create_ns_per_task", "create ns/task"),
                    ("heap_bytes_per_task", "heap B/task"),
                    ("peak_heap_bytes_per_task", "peak heap B/task"),
                    ("rss_bytes_per_task", "RSS B/task")],
    },
    "gather": {
        "desc": "gather() of N coroutines returning their index (creation of the coroutines included)",
        "runs": [("asyncio-cpp", "gather", ""), ("boost-asio", "gather", "co_spawn + join counter"),
                 ("python3.12-asyncio", "gather", ""), ("python3-debian-asyncio", "gather", ""),
                 ("uvloop", "gather", "")],
        "n": {"*": 100000},
        "primary": ("ns_per_task", "ns/task", False),
        "columns": [("tasks_per_s", "tasks/s"), ("rss_bytes_per_task", "RSS B/task")],
    },
    "timers": {
        "desc": "N call_later (delays 0.1-0.2 s, pseudo-random), every other one cancelled, the rest fire",
        "runs": [("asyncio-cpp", "timers", "call_later"), ("boost-asio", "timers", "steady_timer::async_wait"),
                 ("python3.12-asyncio", "timers", "call_later"), ("python3-debian-asyncio", "timers", "call_later"),
                 ("uvloop", "timers", "call_later")],
        "n": {"*": 1000000, "python": 200000},
        "primary": ("insert_ns", "insert ns", False),
        "columns": [("cancel_ns", "cancel ns"), ("fire_ns", "fire ns"),
                    ("heap_bytes_per_timer", "heap B/timer"),
                    ("heap_bytes_per_timer_after_cancel", "heap B/timer after cancel"),
                    ("retained_after_cancel_pct", "% kept after cancel"),
                    ("heap_bytes_per_timer_after_run", "heap B/timer after run")],
    },
}


def micro_size(spec, impl_name):
    n = spec["n"].get("python" if impl_name.startswith(("python", "uvloop")) else "*", spec["n"]["*"])
    return max(1, int(n * SCALE))


def run_json(cmd, timeout=RUN_TIMEOUT):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout after %d s" % timeout
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, (p.stderr.strip().splitlines() or [""])[-1][:200])
    for line in reversed(p.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line), None
    return None, "no JSON output"


def run_micro(micro_impls, results, tables):
    for wname, spec in MICRO.items():
        if not selected("micro." + wname):
            continue
        runs = [r for r in spec["runs"] if impl_selected(r[0])]
        samples = {i: [] for i in range(len(runs))}
        errors = {}
        log("-- micro.%s: %s" % (wname, spec["desc"]))
        for rnd in range(ROUNDS):
            order = list(range(len(runs)))
            k = rnd % len(order) if order else 0
            order = order[k:] + order[:k]  # rotate: nobody always runs first
            for i in order:
                impl_name, warg, _ = runs[i]
                impl = micro_impls[impl_name]
                if impl.missing:
                    continue
                n = micro_size(spec, impl_name)
                cmd = impl.cmd + warg.split() + ["--n", str(n)] + spec.get("extra", [])
                t0 = time.time()
                res, err = run_json(cmd)
                if err:
                    errors[i] = err
                    log("   round %d %-24s %-18s FAILED: %s" % (rnd + 1, impl_name, warg, err))
                    continue
                samples[i].append(res)
                pm = spec["primary"][0]
                log("   round %d %-24s %-18s %s=%s (%.1fs)" % (rnd + 1, impl_name, warg, pm,
                                                             fmt(res["metrics"].get(pm)), time.time() - t0))
        # summarize
        pkey, plabel, higher_better = spec["primary"]
        rows = []
        for i, (impl_name, warg, variant) in enumerate(runs):
            impl = micro_impls[impl_name]
            keys = [pkey] + [c[0] for c in spec["columns"]]
            summ = {}
            for key in keys:
                summ[key] = summarize([s["metrics"].get(key) for s in samples[i]])
            rows.append({"impl": impl_name, "label": impl.label, "variant": variant, "workload": warg,
                         "n": samples[i][0]["n"] if samples[i] else None,
                         "missing": impl.missing, "error": errors.get(i) if not samples[i] else None,
                         "summary": summ, "samples": [s["metrics"] for s in samples[i]]})
        ours = next((r for r in rows if r["impl"] == "asyncio-cpp" and r["summary"][pkey]), None)
        ref = ours["summary"][pkey]["median"] if ours else None
        cols = ["implementation", "variant", "N", plabel + " (median)", "spread", "x ours"] + \
               [c[1] for c in spec["columns"]]
        notes = ["%s. Times are CPU time of the process (wall time only for sleepers' \"wall s\" and to_thread's \"wall ns\"). "
                 "Median of %d rounds, alternatives interleaved; spread = (max-min)/median of %s. "
                 "\"x ours\" = this row's %s / ours (> 1: ours is faster)." %
                 (spec["desc"], ROUNDS, plabel, plabel)]
        t = Table("micro: " + wname, cols, notes)
        alts = []
        for r in rows:
            s = r["summary"][pkey]
            if r["missing"] or not s:
                t.add([r["label"], r["variant"], "-", r["missing"] or ("failed: " + (r["error"] or "?")),
                       "", ""] + [""] * len(spec["columns"]))
                continue
            ratio = (s["median"] / ref) if ref else None
            if not r["impl"].startswith("asyncio-cpp"):
                alts.append((s["median"], r["label"] + (" / " + r["variant"] if r["variant"] else "")))
            t.add([r["label"], r["variant"], fmt(r["n"]), fmt(s["median"]), "%.0f%%" % s["spread_pct"],
                   ("%.2f" % ratio) if ratio else "-"] +
                  [fmt(r["summary"][c[0]]["median"]) if r["summary"][c[0]] else "-" for c in spec["columns"]])
        if alts and ref:
            best = min(alts)
            t.notes.append("Fastest alternative: %s at %s %s; ours is %.2fx faster." %
                           (best[1], fmt(best[0]), plabel, best[0] / ref))
        tables.append(t)
        results["micro"][wname] = {"description": spec["desc"], "primary": pkey, "rows": rows}
        log(t.text())


# ---------------------------------------------------------------------------------------------
# Callgrind instruction counts
# ---------------------------------------------------------------------------------------------

CALLGRIND = [
    # (name, workload arg per impl, args, ops(n) -> operations, unit)
    ("spawn", {"asyncio-cpp": ["spawn", "spawn --factory eager"], "boost-asio": "spawn"},
     ["--n", "10000"], lambda n: n, "task"),
    ("chain", {"asyncio-cpp": "chain", "boost-asio": "chain"}, ["--n", "20", "--depth", "1000"],
     lambda n: n * 1000, "level"),
    ("switch", {"asyncio-cpp": ["switch_future", "switch_future --runner loop"],
                "asyncio-cpp-sync": ["switch_event", "switch_queue"],
                "boost-asio": "switch_timer_event"}, ["--n", "10000"], lambda n: 2 * n, "hand-off"),
    ("lock", {"asyncio-cpp-sync": ["lock", "lock_guard"]}, ["--n", "10000"], lambda n: n, "acquire+release"),
    ("sleepers", {"asyncio-cpp": "sleepers", "boost-asio": "sleepers"},
     ["--n", "10000", "--delay", "0.05"], lambda n: n, "task"),
    ("gather", {"asyncio-cpp": "gather", "boost-asio": "gather"}, ["--n", "10000"], lambda n: n, "task"),
    ("timers.insert@10k", {"asyncio-cpp": "timers", "boost-asio": "timers"},
     ["--n", "10000", "--phase", "insert"], lambda n: n, "timer"),
    ("timers.insert@100k", {"asyncio-cpp": "timers", "boost-asio": "timers"},
     ["--n", "100000", "--phase", "insert"], lambda n: n, "timer"),
    ("timers.cancel@10k", {"asyncio-cpp": "timers", "boost-asio": "timers"},
     ["--n", "10000", "--phase", "cancel"], lambda n: n // 2, "cancel"),
    ("timers.cancel@100k", {"asyncio-cpp": "timers", "boost-asio": "timers"},
     ["--n", "100000", "--phase", "cancel"], lambda n: n // 2, "cancel"),
    ("timers.fire@10k", {"asyncio-cpp": "timers", "boost-asio": "timers"},
     ["--n", "10000", "--phase", "fire"], lambda n: n - n // 2, "fired timer"),
    ("timers.fire@100k", {"asyncio-cpp": "timers", "boost-asio": "timers"},
     ["--n", "100000", "--phase", "fire"], lambda n: n - n // 2, "fired timer"),
]


CALLGRAPH_COST = [
    # (name, workload, args, ops(n), unit): ASYNCIO_CALL_GRAPH off vs on (issue 11)
    ("chain", "chain", ["--n", "20", "--depth", "1000"], lambda n: n * 1000, "level"),
    ("switch", "switch_future", ["--n", "10000"], lambda n: 2 * n, "hand-off"),
    ("spawn", "spawn", ["--n", "10000"], lambda n: n, "task"),
]


def run_callgraph_cost(micro_impls, results, tables):
    """Instructions per operation with and without the await-site recording, side by side."""
    if not selected("callgrind.callgraph"):
        return
    vg = shutil.which("valgrind")
    off, on = micro_impls.get("asyncio-cpp"), micro_impls.get("asyncio-cpp-callgraph")
    t = Table("callgrind: cost of call graphs (ASYNCIO_CALL_GRAPH=0 vs 1, instructions per operation)",
              ["workload", "unit", "off (release default)", "on", "on - off", "on / off"],
              ["Same source (bench/micro/asyncio_micro.cpp), built twice; on = what debug builds do by "
               "default. See docs/debugging.md."])
    if not vg or not off or off.missing or not on or on.missing:
        t.notes.append("skipped: valgrind or a binary is missing.")
        tables.append(t)
        return
    log("-- callgrind.callgraph")
    out = []
    for name, w, args, ops, unit in CALLGRAPH_COST:
        n = int(args[args.index("--n") + 1])
        counts = {}
        for label, impl in (("off", off), ("on", on)):
            with tempfile.TemporaryDirectory() as td:
                cmd = [vg, "--tool=callgrind", "--collect-atstart=no",
                       "--callgrind-out-file=" + os.path.join(td, "cg.out")] + impl.cmd + w.split() + args
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
            m = re.search(r"Collected : (\d+)", p.stderr)
            if p.returncode == 0 and m:
                counts[label] = int(m.group(1)) / ops(n)
        a, b = counts.get("off"), counts.get("on")
        t.add([name, unit, fmt(a) if a else "-", fmt(b) if b else "-",
               ("%+.1f" % (b - a)) if (a and b) else "-", ("%.3f" % (b / a)) if (a and b) else "-"])
        log("   %-8s off %s on %s Ir/%s" % (name, fmt(a) if a else "-", fmt(b) if b else "-", unit))
        out.append({"workload": name, "unit": unit, "n": n, "off": a, "on": b})
    results["callgraph_cost"] = out
    tables.append(t)
    log(t.text())


def run_callgrind(micro_impls, results, tables):
    if not any(selected("callgrind." + c[0]) for c in CALLGRIND):
        return
    vg = shutil.which("valgrind")
    t = Table("callgrind: instructions per operation (measured region only; deterministic)",
              ["workload", "unit", "asyncio-cpp (ours)", "Boost.Asio", "Asio / ours"],
              ["valgrind --tool=callgrind --collect-atstart=no; the binaries toggle collection "
               "around the measured region (bench_common.hpp), so start-up and set-up are excluded. "
               "Small N (see bench/README.md): instruction counts do not drift with the machine."])
    out = []
    if not vg:
        t.notes.append("valgrind not found: skipped.")
        tables.append(t)
        return
    log("-- callgrind")
    for name, wl, args, ops, unit in CALLGRIND:
        if not selected("callgrind." + name):
            continue
        n = int(args[args.index("--n") + 1])
        counts = {}
        for impl_name, warg in wl.items():
            impl = micro_impls.get(impl_name)
            if not impl or impl.missing or not impl_selected(impl_name):
                continue
            for w in (warg if isinstance(warg, list) else [warg]):
                with tempfile.TemporaryDirectory() as td:
                    cmd = [vg, "--tool=callgrind", "--collect-atstart=no",
                           "--callgrind-out-file=" + os.path.join(td, "cg.out")] + impl.cmd + w.split() + args
                    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
                m = re.search(r"Collected : (\d+)", p.stderr)
                if p.returncode != 0 or not m:
                    log("   %s %s %s: callgrind failed" % (name, impl_name, w))
                    continue
                counts[(impl_name, w)] = int(m.group(1)) / ops(n)
                log("   %-20s %-18s %-20s %8.0f Ir/%s" % (name, impl_name, w, counts[(impl_name, w)], unit))
        ours = [(k, v) for k, v in counts.items() if k[0].startswith("asyncio-cpp")]
        asio = [v for k, v in counts.items() if k[0] == "boost-asio"]
        for (k, v) in ours or [(("asyncio-cpp", "-"), None)]:
            label = "%s (%s)" % (name, k[1]) if len(ours) > 1 else name
            a = asio[0] if asio else None
            t.add([label, unit, fmt(v) if v else "-", fmt(a) if a else "-",
                   ("%.2f" % (a / v)) if (a and v) else "-"])
        out.append({"workload": name, "unit": unit, "n": n,
                    "ir_per_op": {"%s/%s" % k: v for k, v in counts.items()}})
    results["callgrind"] = out
    tables.append(t)
    log(t.text())


# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

NET = [
    # name, mode, conns, size, inflight
    ("lockstep-c1-s64", "lockstep", 1, 64, 1),
    ("lockstep-c1-s1024", "lockstep", 1, 1024, 1),
    ("lockstep-c1-s16384", "lockstep", 1, 16384, 1),
    ("lockstep-c64-s64", "lockstep", 64, 64, 1),
    ("lockstep-c64-s1024", "lockstep", 64, 1024, 1),
    ("lockstep-c64-s16384", "lockstep", 64, 16384, 1),
    ("stream-c4-s102400-k4", "stream", 4, 102400, 4),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class DmaLatency:
    """Holds /dev/cpu_dma_latency open with 0 so idle vCPUs poll instead of halting."""

    def __init__(self):
        self.f = None

    def __enter__(self):
        try:
            self.f = open("/dev/cpu_dma_latency", "wb", buffering=0)
            self.f.write(struct.pack("i", 0))
            log("   /dev/cpu_dma_latency held at 0 for the network measurements")
        except OSError as e:
            log("   WARNING: cannot hold /dev/cpu_dma_latency (%s): 1-connection figures will "
                "measure vCPU wake-ups" % e)
            self.f = None
        return self

    def __exit__(self, *a):
        if self.f:
            self.f.close()


def run_one_net(server, loadgen, cfg, taskset):
    name, mode, conns, size, inflight = cfg
    port = free_port()
    pin_s = [taskset, "-c", "0"] if taskset else []
    pin_c = [taskset, "-c", "1"] if taskset else []
    proc = subprocess.Popen(pin_s + server.cmd + [str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        if not wait_port(port, proc):
            err = proc.stderr.read() if proc.poll() is not None else ""
            return None, "server did not start: " + (err.strip().splitlines() or [""])[-1][:200]
        time.sleep(0.05)
        cmd = pin_c + [loadgen, "--port", str(port), "--conns", str(conns), "--size", str(size),
                       "--mode", mode, "--inflight", str(inflight), "--warmup", str(NET_WARMUP),
                       "--duration", str(NET_DURATION), "--server-pid", str(proc.pid)]
        res, err = run_json(cmd, timeout=NET_WARMUP + NET_DURATION + 60)
        if res and res.get("errors"):
            return None, "load generator saw errors"
        return res, err
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_net(servers, tools, results, tables):
    cfgs = [c for c in NET if selected("net." + c[0])]
    if not cfgs:
        return
    loadgen = tools["loadgen"]
    if not loadgen:
        log("-- net: loadgen not built, skipped")
        return
    taskset = shutil.which("taskset")
    srv = [s for s in servers if impl_selected(s.name)]
    log("-- net: server on cpu 0, load generator on cpu 1%s" % ("" if taskset else " (taskset missing: NOT pinned)"))
    results["net"] = {}
    with DmaLatency():
        for cfg in cfgs:
            name, mode, conns, size, inflight = cfg
            samples = {s.name: [] for s in srv}
            errors = {}
            for rnd in range(ROUNDS):
                order = srv[rnd % len(srv):] + srv[:rnd % len(srv)]
                for s in order:
                    if s.missing:
                        continue
                    res, err = run_one_net(s, loadgen, cfg, taskset)
                    if err:
                        errors[s.name] = err
                        log("   %s round %d %-24s FAILED: %s" % (name, rnd + 1, s.name, err))
                        continue
                    samples[s.name].append(res)
                    log("   %s round %d %-24s %9.0f req/s %8.1f MB/s p50 %7.1f us p99 %7.1f us cpu %6.2f us/req"
                        " wait %s/%s %%" %
                        (name, rnd + 1, s.name, res["rps"], res["mb_per_s"], res["p50_us"], res["p99_us"],
                         res["cpu_us_per_req"], res.get("server_wait_pct"), res.get("loadgen_wait_pct")))
            keys = ["rps", "mb_per_s", "p50_us", "p99_us", "cpu_us_per_req", "server_cpu_pct",
                    "server_wait_pct", "loadgen_wait_pct"]
            rows = []
            for s in srv:
                summ = {k: summarize([x.get(k) for x in samples[s.name]]) for k in keys}
                rows.append({"impl": s.name, "label": s.label, "missing": s.missing,
                             "error": errors.get(s.name) if not samples[s.name] else None,
                             "summary": summ, "samples": samples[s.name]})
            ref = next((r for r in rows if r["impl"] == "epoll-c" and r["summary"]["rps"]), None)
            stream = mode == "stream"
            title = ("net: streaming echo, %d connections x %d messages of %d KiB in flight" %
                     (conns, inflight, size // 1024)) if stream else \
                ("net: lockstep echo, %d connection%s x %d B" % (conns, "s" if conns > 1 else "", size))
            main_key = "mb_per_s" if stream else "rps"
            main_label = "MB/s" if stream else "requests/s"
            t = Table(title, ["server", main_label + " (median)", "spread", "x epoll",
                              ("msg p50 us" if stream else "p50 us"), ("msg p99 us" if stream else "p99 us"),
                              "server CPU us/" + ("msg" if stream else "req"), "CPU us over epoll",
                              "server CPU %", "CPU wait % srv/gen"],
                      ["Median of %d rounds of %.1f s (after %.1f s warm-up), servers interleaved; spread = "
                       "(max-min)/median of %s. \"x epoll\" = %s / the raw epoll server's. Server CPU from "
                       "the kernel's accounting of the server process (schedstat) over the measured window. "
                       "\"CPU wait %%\": share of the window the server / the load generator spent runnable "
                       "but waiting for a CPU: above a few %%, other work on the machine limits the figures "
                       "(requests/s, latency), not the server." %
                       (ROUNDS, NET_DURATION, NET_WARMUP, main_label, main_label)])
            for r in rows:
                sm = r["summary"]
                if r["missing"] or not sm["rps"]:
                    t.add([r["label"], r["missing"] or ("failed: " + (r["error"] or "?"))] + [""] * 8)
                    continue
                ratio = sm[main_key]["median"] / ref["summary"][main_key]["median"] if ref else None
                over = (sm["cpu_us_per_req"]["median"] - ref["summary"]["cpu_us_per_req"]["median"]) if ref else None
                t.add([r["label"], fmt(sm[main_key]["median"]), "%.0f%%" % sm[main_key]["spread_pct"],
                       ("%.2f" % ratio) if ratio else "-", fmt(sm["p50_us"]["median"]),
                       fmt(sm["p99_us"]["median"]), fmt(sm["cpu_us_per_req"]["median"]),
                       ("%+.2f" % over) if over is not None else "-", fmt(sm["server_cpu_pct"]["median"]),
                       "%s/%s" % (fmt(sm["server_wait_pct"]["median"]) if sm["server_wait_pct"] else "-",
                                  fmt(sm["loadgen_wait_pct"]["median"]) if sm["loadgen_wait_pct"] else "-")])
            tables.append(t)
            results["net"][name] = {"mode": mode, "conns": conns, "size": size, "inflight": inflight,
                                    "rows": rows}
            log(t.text())


# ---------------------------------------------------------------------------------------------

def machine_info():
    info = {"nproc": os.cpu_count(), "uname": " ".join(os.uname())}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            info["cpu"] = m.group(1) if m else "?"
    except OSError:
        pass
    try:
        info["loadavg_at_start"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    try:
        info["compiler"] = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    try:
        info["git"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                     capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return info


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    started = time.time()
    micro_impls, servers, tools = discover(build)
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(),
               "options": {"rounds": ROUNDS, "scale": SCALE, "quick": QUICK, "filter": FILTERS,
                           "impls": IMPL_FILTER, "net_duration": NET_DURATION, "net_warmup": NET_WARMUP},
               "micro": {}}
    log("bench: build %s, %d round(s), scale %g, filter %s" % (build, ROUNDS, SCALE, FILTERS or "all"))
    for i in list(micro_impls.values()) + servers:
        if i.missing:
            log("   %-28s %s" % (i.name, i.missing))
    tables = []
    run_micro(micro_impls, results, tables)
    run_callgrind(micro_impls, results, tables)
    run_callgraph_cost(micro_impls, results, tables)
    run_net(servers, tools, results, tables)
    elapsed = time.time() - started
    results["elapsed_s"] = elapsed

    outdir = os.environ.get("BENCH_RESULTS") or os.path.join(HERE, "results")
    os.makedirs(outdir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    md = ["# Benchmark results %s" % results["started"], "",
          "Machine: %s, %s CPUs; load average at start %s; %s; git %s." %
          (results["machine"].get("cpu", "?"), results["machine"]["nproc"],
           " ".join(results["machine"].get("loadavg_at_start", [])), results["machine"].get("compiler", "?"),
           results["machine"].get("git", "?")),
          "Options: %s. Suite time: %.0f s. Method: bench/README.md." % (json.dumps(results["options"]), elapsed),
          ""]
    md += [t.markdown() for t in tables]
    for base in (stamp, "latest"):
        with open(os.path.join(outdir, base + ".md"), "w") as f:
            f.write("\n".join(md))
        with open(os.path.join(outdir, base + ".json"), "w") as f:
            json.dump(results, f, indent=1)
    log("bench: done in %.0f s; results in %s/{latest,%s}.{md,json}" % (elapsed, outdir, stamp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

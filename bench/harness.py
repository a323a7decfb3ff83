#!/usr/bin/env python3
"""The benchmark suite's driver (run by scripts/bench.sh, i.e. `make bench`).

    bench/harness.py BUILD_DIR

Runs the micro-workloads of our library and of the peers (Python asyncio, uvloop, Boost.Asio),
the network echo workloads against every echo server (raw epoll and raw io_uring C references,
libuv, Boost.Asio, uvloop, Python asyncio, ours on both backends), the TLS echo and handshake
workloads, and callgrind instruction counts; prints one table per workload (plus the 64-connection
summary of issue 12) and writes them as Markdown and JSON under bench/results/.
Method and options: bench/README.md. Options come from the environment:

    BENCH_FILTER=micro,net.lockstep,callgrind   run only sections matching these regexes
                                                (matched against e.g. "micro.spawn",
                                                "net.lockstep-c64-s1024", "callgrind.timers",
                                                "tls.echo-c64-s1024", "tls.handshake-c8-s64")
    BENCH_IMPLS=regex        run only the implementations whose name matches
    BENCH_QUICK=1            1 round, sizes / 10, 0.5 s network windows (smoke test)
    BENCH_ROUNDS=N           rounds per figure (default 3)
    BENCH_SCALE=F            multiply every micro size N by F
    BENCH_NET_DURATION=S     measured seconds per network/TLS run (default 1.5)
    BENCH_NET_WARMUP=S       warm-up seconds per network/TLS run (default 0.3)
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
# 1.5 s + 0.3 s per run: 64 connections echo ~10^5 requests in the window, plenty for a stable
# CPU per request; the suite's time budget (bench/README.md, "Time") has ~300 network runs.
NET_DURATION = env_float("BENCH_NET_DURATION", 0.5 if QUICK else 1.5)
NET_WARMUP = env_float("BENCH_NET_WARMUP", 0.2 if QUICK else 0.3)
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


def uv_version(uv_echo):
    try:
        return subprocess.run([uv_echo, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class Impl:
    """One alternative: how to run it (command, extra environment), or why it is missing."""

    def __init__(self, name, label, cmd, missing=None, env=None):
        self.name, self.label, self.cmd, self.missing = name, label, cmd, missing
        self.env = env or {}


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

    # Echo servers, in the order of issue 12's table: the references, the peers, ours on both
    # backends (the same binaries; ASYNCIO_BACKEND picks the reactor), then Python asyncio.
    # Debian's Python asyncio is in the micro tables only (network time budget, bench/README.md).
    servers = []

    def add_server(name, label, cmd, missing, env=None):
        servers.append(Impl(name, label, cmd, None if cmd else missing, env))

    def ours_server(kind, binary_name, label):
        b = binary(binary_name)
        for backend, suffix in (("epoll", ""), ("io_uring", "-uring")):
            add_server("asyncio-cpp-%s%s" % (kind, suffix), "%s (ours, %s)" % (label, backend),
                       [b] if b else None,
                       "not built (bench/servers/%s.cpp: does not compile)" % binary_name,
                       {"ASYNCIO_BACKEND": backend})

    b = binary("epoll_echo")
    add_server("epoll-c", "raw epoll, C (reference)", [b] if b else None, "not built (epoll_echo)")
    b = binary("uring_echo")
    add_server("uring-c", "raw io_uring, C (reference)", [b] if b else None,
               "not built (uring_echo: apt-get install liburing-dev)")
    b = binary("uv_echo")
    add_server("libuv", "libuv %s" % uv_version(b) if b else "libuv", [b] if b else None,
               "not built (uv_echo: apt-get install libuv1-dev)")
    b = binary("asio_echo")
    add_server("boost-asio", "Boost.Asio coroutines", [b] if b else None,
               "not built (asio_echo: apt-get install libboost-dev)")
    escript = os.path.join(PEERS, "echo_asyncio.py")
    name, label, py = uv_impl
    add_server(name, label + " protocol", [py[0], escript, "--uvloop"] if py else None,
               "not installed (apt-get install python3-uvloop)")
    ours_server("protocol", "asyncio_protocol_echo", "asyncio-cpp protocol")
    ours_server("streams", "asyncio_streams_echo", "asyncio-cpp streams")
    ours_server("streams-readinto", "asyncio_streams_readinto_echo", "asyncio-cpp streams readinto")
    ours_server("sock", "asyncio_sock_echo", "asyncio-cpp sock_* API")
    name, label, py = pys[0]
    add_server(name, label + " protocol", [py[0], escript] if py else None, "interpreter not found")

    # TLS echo servers: the same programs' TLS forms (bench/README.md, "TLS").
    tls_servers = []

    def add_tls(name, label, cmd, missing, env=None):
        tls_servers.append(Impl(name, label, cmd, None if cmd else missing, env))

    b = binary("asyncio_tls_echo")
    for backend, suffix in (("epoll", ""), ("io_uring", "-uring")):
        add_tls("asyncio-cpp-tls" + suffix, "asyncio-cpp protocol + SSLContext (ours, %s)" % backend,
                [b] if b else None, "not built (bench/servers/asyncio_tls_echo.cpp: does not compile)",
                {"ASYNCIO_BACKEND": backend})
    b = binary("asio_tls_echo")
    add_tls("boost-asio-tls", "Boost.Asio coroutines + asio::ssl", [b] if b else None,
            "not built (asio_tls_echo: apt-get install libboost-dev libssl-dev)")
    name, label, py = uv_impl
    add_tls(name + "-tls", label + " protocol + ssl", [py[0], escript, "--uvloop"] if py else None,
            "not installed (apt-get install python3-uvloop)")
    name, label, py = pys[0]
    add_tls(name + "-tls", label + " protocol + ssl", [py[0], escript] if py else None,
            "interpreter not found")
    return micro, servers, tls_servers, {"loadgen": binary("loadgen"), "tls_loadgen": binary("tls_loadgen")}


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
        # Not run here: figures from the independent side-by-side run quoted in issue 12
        # (bench/README.md, "Recorded reference figures"). (name, ns/task, note)
        "recorded": [("netcan/asyncio", 114, "145 B/task; ours there: 204 ns, 249 B/task"),
                     ("libcoro", 298, "237 B/task; ours there: 204 ns, 249 B/task")],
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
        "recorded": [("netcan/asyncio", 482, "ours there: 358 ns/task"),
                     ("libcoro", 297, "ours there: 358 ns/task")],
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
        recorded = spec.get("recorded", [])
        for rname, value, note in recorded:
            t.add(["%s (recorded, not run)" % rname, "issue 12's run: " + note, "-", fmt(value), "", ""] +
                  ["" for _ in spec["columns"]])
        if recorded:
            t.notes.append("Rows marked \"(recorded, not run)\": figures of the independent side-by-side run "
                           "quoted in issue 12 (same kind of 2-vCPU machine, another day); compare them with "
                           "ours in that run (the variant column), not with this run's figures.")
        if alts and ref:
            best = min(alts)
            t.notes.append("Fastest alternative: %s at %s %s; ours is %.2fx faster." %
                           (best[1], fmt(best[0]), plabel, best[0] / ref))
        tables.append(t)
        results["micro"][wname] = {"description": spec["desc"], "primary": pkey, "rows": rows,
                                   "recorded": [{"impl": r[0], pkey: r[1], "note": r[2]} for r in recorded]}
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


FALLBACK_RE = re.compile(r"using epoll")


def run_one_net(server, loadgen_cmd, taskset, server_args=()):
    """One run: a fresh server (pinned to CPU 0) and the load generator (CPU 1) against it.
    Returns (result, error, note); note = the server's backend fallback line, if it printed one."""
    port = free_port()
    pin_s = [taskset, "-c", "0"] if taskset else []
    pin_c = [taskset, "-c", "1"] if taskset else []
    # stderr to a file, not a pipe nobody reads while the server runs (a chatty server would
    # block on a full pipe and measure that)
    with tempfile.TemporaryFile("w+") as errf:
        proc = subprocess.Popen(pin_s + server.cmd + [str(port)] + list(server_args),
                                stdout=subprocess.DEVNULL, stderr=errf, text=True,
                                env=dict(os.environ, **server.env))

        def stderr_text():
            errf.flush()
            errf.seek(0)
            return errf.read()

        try:
            if not wait_port(port, proc):
                proc.poll()
                return None, "server did not start: " + (stderr_text().strip().splitlines() or [""])[-1][:200], None
            time.sleep(0.05)
            cmd = pin_c + loadgen_cmd + ["--port", str(port), "--warmup", str(NET_WARMUP),
                                         "--duration", str(NET_DURATION), "--server-pid", str(proc.pid)]
            res, err = run_json(cmd, timeout=NET_WARMUP + NET_DURATION + 60)
            if res and res.get("errors"):
                res, err = None, "load generator saw errors"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # ASYNCIO_BACKEND=io_uring on a kernel that refuses it: the library says so in one line
        note = next((ln.strip()[:160] for ln in stderr_text().splitlines() if FALLBACK_RE.search(ln)), None)
        return res, err, note


NET_KEYS = ["rps", "mb_per_s", "p50_us", "p99_us", "cpu_us_per_req", "server_cpu_pct",
            "server_wait_pct", "loadgen_wait_pct", "loadgen_cpu_pct"]


def measure_rounds(section, srv, run):
    """ROUNDS interleaved rounds of run(server) over the servers (rotating the order); returns
    rows with summaries, as stored in the results."""
    samples = {s.name: [] for s in srv}
    errors, notes = {}, {}
    for rnd in range(ROUNDS):
        order = srv[rnd % len(srv):] + srv[:rnd % len(srv)]
        for s in order:
            if s.missing:
                continue
            res, err, note = run(s)
            if note:
                notes[s.name] = note
            if err:
                errors[s.name] = err
                log("   %s round %d %-28s FAILED: %s" % (section, rnd + 1, s.name, err))
                continue
            samples[s.name].append(res)
            log("   %s round %d %-28s %9.0f req/s %8.1f MB/s p50 %7.1f us p99 %7.1f us cpu %6.2f us/req"
                " wait %s/%s %%%s" %
                (section, rnd + 1, s.name, res["rps"], res["mb_per_s"], res["p50_us"], res["p99_us"],
                 res["cpu_us_per_req"], res.get("server_wait_pct"), res.get("loadgen_wait_pct"),
                 ("  [%s]" % note) if note else ""))
    rows = []
    for s in srv:
        summ = {k: summarize([x.get(k) for x in samples[s.name]]) for k in NET_KEYS}
        reason = re.search(r"unavailable \((.*)\); using epoll", notes.get(s.name) or "")
        label = s.label + ((" [fell back to epoll: %s]" % (reason.group(1) if reason else notes[s.name]))
                           if s.name in notes else "")
        rows.append({"impl": s.name, "label": label, "missing": s.missing, "env": s.env,
                     "backend_note": notes.get(s.name),
                     "error": errors.get(s.name) if not samples[s.name] else None,
                     "summary": summ, "samples": samples[s.name]})
    return rows


def rate_table(title, rows, ref_impl, ref_label, main_key, main_label, unit, latency_prefix, notes,
               gen_cpu=False):
    """The per-configuration table: throughput, spread, ratio to the reference row, latency,
    server CPU per request (and over the reference), CPU wait."""
    ref = next((r for r in rows if r["impl"] == ref_impl and r["summary"]["rps"]), None)
    t = Table(title, ["server", main_label + " (median)", "spread", "x " + ref_label,
                      latency_prefix + "p50 us", latency_prefix + "p99 us",
                      "server CPU us/" + unit, "CPU spread", "CPU us over " + ref_label,
                      "server CPU %"] + (["gen CPU %"] if gen_cpu else []) + ["CPU wait % srv/gen"], notes)
    for r in rows:
        sm = r["summary"]
        if r["missing"] or not sm["rps"]:
            t.add([r["label"], r["missing"] or ("failed: " + (r["error"] or "?"))] + [""] * (10 if gen_cpu else 9))
            continue
        ratio = sm[main_key]["median"] / ref["summary"][main_key]["median"] if ref else None
        over = (sm["cpu_us_per_req"]["median"] - ref["summary"]["cpu_us_per_req"]["median"]) if ref else None
        t.add([r["label"], fmt(sm[main_key]["median"]), "%.0f%%" % sm[main_key]["spread_pct"],
               ("%.2f" % ratio) if ratio else "-", fmt(sm["p50_us"]["median"]),
               fmt(sm["p99_us"]["median"]), fmt(sm["cpu_us_per_req"]["median"]),
               "%.0f%%" % sm["cpu_us_per_req"]["spread_pct"],
               ("%+.2f" % over) if over is not None else "-", fmt(sm["server_cpu_pct"]["median"])] +
              ([fmt(sm["loadgen_cpu_pct"]["median"]) if sm["loadgen_cpu_pct"] else "-"] if gen_cpu else []) +
              ["%s/%s" % (fmt(sm["server_wait_pct"]["median"]) if sm["server_wait_pct"] else "-",
                          fmt(sm["loadgen_wait_pct"]["median"]) if sm["loadgen_wait_pct"] else "-")])
    return t


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
            lg = [loadgen, "--conns", str(conns), "--size", str(size), "--mode", mode,
                  "--inflight", str(inflight)]
            rows = measure_rounds(name, srv, lambda s: run_one_net(s, lg, taskset))
            stream = mode == "stream"
            title = ("net: streaming echo, %d connections x %d messages of %d KiB in flight" %
                     (conns, inflight, size // 1024)) if stream else \
                ("net: lockstep echo, %d connection%s x %d B" % (conns, "s" if conns > 1 else "", size))
            main_label = "MB/s" if stream else "requests/s"
            t = rate_table(title, rows, "epoll-c", "epoll", "mb_per_s" if stream else "rps", main_label,
                           "msg" if stream else "req", "msg " if stream else "",
                           ["Median of %d rounds of %.1f s (after %.1f s warm-up), servers interleaved; spread = "
                            "(max-min)/median of %s (\"CPU spread\": of the server CPU per request). \"x epoll\" = "
                            "%s / the raw epoll server's. Server CPU from the kernel's accounting of the server "
                            "process (schedstat) over the measured window. \"CPU wait %%\": share of the window the "
                            "server / the load generator spent runnable but waiting for a CPU: above a few %%, "
                            "other work on the machine limits the figures (requests/s, latency), not the server." %
                            (ROUNDS, NET_DURATION, NET_WARMUP, main_label, main_label)])
            tables.append(t)
            results["net"][name] = {"mode": mode, "conns": conns, "size": size, "inflight": inflight,
                                    "rows": rows}
            log(t.text())
    summary = net_summary(results["net"])
    if summary:
        tables.append(summary)
        log(summary.text())


# The headline table of issue 12: 64 connections, server CPU us/request by message size.
SUMMARY_CFGS = [("lockstep-c64-s64", "64 B"), ("lockstep-c64-s1024", "1 KiB"), ("lockstep-c64-s16384", "16 KiB")]


# issue 12's run (not run here): libcoro's echo server, us/request (ratio to raw epoll in that run)
SUMMARY_RECORDED_LIBCORO = [("lockstep-c64-s64", "11.1 (1.52)"), ("lockstep-c64-s1024", "11.2 (1.57)"),
                            ("lockstep-c64-s16384", "14.6 (1.89)")]


def net_summary(net):
    cfgs = [(c, label) for c, label in SUMMARY_CFGS if c in net]
    if not cfgs:
        return None

    def cpu(cfg, impl):
        r = next((r for r in net[cfg]["rows"] if r["impl"] == impl), None)
        return r["summary"]["cpu_us_per_req"] if r and r["summary"]["cpu_us_per_req"] else None

    t = Table("net summary: 64 connections, server CPU us/request (x raw epoll) and spread",
              ["server"] + [label for _, label in cfgs] + ["x raw io_uring (%s)" % " / ".join(l for _, l in cfgs)],
              ["Server CPU time per echoed request (lockstep, 64 connections), median of %d rounds; in "
               "brackets the ratio to the raw epoll C server of the same run, then the spread "
               "(max-min)/median of the rounds. Last column: the ratio to the raw io_uring C server "
               "(the completion model's physical limit). The usable figure of this machine (see "
               "bench/README.md): 1-connection and streaming trials jump between two vCPU speed levels, "
               "the CPU per request at 64 connections does not." % ROUNDS])
    for r0 in net[cfgs[0][0]]["rows"]:
        impl = r0["impl"]
        cells, vs_uring = [], []
        for c, _ in cfgs:
            me, ep, ur = cpu(c, impl), cpu(c, "epoll-c"), cpu(c, "uring-c")
            if not me:
                cells.append("-")
                vs_uring.append("-")
                continue
            cells.append("%s (%s) ±%.0f%%" % (fmt(me["median"]), ("%.2f" % (me["median"] / ep["median"])) if ep else "-",
                                               me["spread_pct"]))
            vs_uring.append(("%.2f" % (me["median"] / ur["median"])) if ur else "-")
        label = r0["label"]
        if r0["missing"]:
            cells = [r0["missing"]] + [""] * (len(cfgs) - 1)
        t.add([label] + cells + [" / ".join(vs_uring)])
    by_cfg = dict(SUMMARY_RECORDED_LIBCORO)
    t.add(["libcoro (recorded, not run)"] + [by_cfg.get(c, "-") for c, _ in cfgs] + ["-"])
    t.notes.append("libcoro: not packaged, not run; its figures (ratio to raw epoll in that run) come from the "
                   "independent side-by-side run quoted in issue 12 (bench/README.md, \"Recorded reference "
                   "figures\"): compare its ratios, not its microseconds, with this run's.")
    return t


# ---------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------

TLS = [
    # name, loadgen mode, conns, size
    ("echo-c64-s1024", "echo", 64, 1024),
    ("echo-c1-s1024", "echo", 1, 1024),
    ("handshake-c8-s64", "handshake", 8, 64),
]
TLS_CIPHERSUITE = "TLS_AES_128_GCM_SHA256"
TLS_GROUP = "X25519"


def make_cert(build):
    """A fresh self-signed ECDSA P-256 certificate in the build directory (no key in git)."""
    d = os.path.join(build, "bench", "tls")
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    openssl = shutil.which("openssl")
    if not openssl:
        return None, "openssl not found"
    p = subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return None, "openssl req failed: " + (p.stderr.strip().splitlines() or [""])[-1]
    return (cert, key), None


def run_tls(tls_servers, tools, build, results, tables):
    cfgs = [c for c in TLS if selected("tls." + c[0])]
    if not cfgs:
        return
    loadgen = tools["tls_loadgen"]
    if not loadgen:
        log("-- tls: tls_loadgen not built, skipped")
        return
    certkey, err = make_cert(build)
    if err:
        log("-- tls: skipped (%s)" % err)
        return
    taskset = shutil.which("taskset")
    srv = [s for s in tls_servers if impl_selected(s.name)]
    log("-- tls: TLS 1.3 %s / %s, ECDSA P-256 self-signed certificate, no session resumption" %
        (TLS_CIPHERSUITE, TLS_GROUP))
    results["tls"] = {}
    with DmaLatency():
        for name, mode, conns, size in cfgs:
            lg = [loadgen, "--conns", str(conns), "--size", str(size), "--mode", mode,
                  "--ciphersuite", TLS_CIPHERSUITE, "--group", TLS_GROUP]
            rows = measure_rounds("tls." + name, srv,
                                  lambda s: run_one_net(s, lg, taskset, ["--tls", certkey[0], certkey[1]]))
            hs = mode == "handshake"
            title = ("tls: handshake rate, %d connections in parallel, each: connect, full TLS 1.3 handshake, "
                     "one %d B echo, close" % (conns, size)) if hs else \
                ("tls: lockstep echo over TLS 1.3, %d connection%s x %d B" % (conns, "s" if conns > 1 else "", size))
            t = rate_table(title, rows, "asyncio-cpp-tls", "ours", "rps",
                           "handshakes/s" if hs else "requests/s", "handshake" if hs else "req",
                           "cycle " if hs else "",
                           ["Median of %d rounds of %.1f s (after %.1f s warm-up), servers interleaved. Load "
                            "generator: bench/net/tls_loadgen.c (OpenSSL, non-blocking, epoll), offering only "
                            "%s and %s; no session cache, no tickets (servers send none either), so every "
                            "handshake is a full one. \"x ours\" and \"over ours\" are relative to ours on "
                            "epoll.%s" % (ROUNDS, NET_DURATION, NET_WARMUP, TLS_CIPHERSUITE, TLS_GROUP,
                                          " A handshake costs the client about as much as the server, so "
                                          "handshakes/s is bounded by the load generator's core: compare the "
                                          "server CPU per handshake (\"gen CPU %\": the load generator's share "
                                          "of its core)." if hs else "")], gen_cpu=True)
            tables.append(t)
            results["tls"][name] = {"mode": mode, "conns": conns, "size": size, "rows": rows}
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
    micro_impls, servers, tls_servers, tools = discover(build)
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(),
               "options": {"rounds": ROUNDS, "scale": SCALE, "quick": QUICK, "filter": FILTERS,
                           "impls": IMPL_FILTER, "net_duration": NET_DURATION, "net_warmup": NET_WARMUP},
               "micro": {}}
    log("bench: build %s, %d round(s), scale %g, filter %s" % (build, ROUNDS, SCALE, FILTERS or "all"))
    for i in list(micro_impls.values()) + servers + tls_servers:
        if i.missing:
            log("   %-28s %s" % (i.name, i.missing))
    tables = []
    run_micro(micro_impls, results, tables)
    run_callgrind(micro_impls, results, tables)
    run_callgraph_cost(micro_impls, results, tables)
    run_net(servers, tools, results, tables)
    run_tls(tls_servers, tools, build, results, tables)
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

#!/usr/bin/env python3
"""Differential test runner: generated asyncio scenarios under CPython 3.12 and under the library.

  run.py [--first SEED] [--count N] [--per K] [--unit SECONDS] [--jobs J] [--out DIR]

Generates scenarios FIRST..FIRST+N-1 (gen.py), compiles them K per C++ translation unit
against the library (build/<preset>/libasyncio.a, which must exist), runs every scenario under
both, and compares stdout line by line. A scenario that differs is run again alone with a
4x larger time unit: if it then agrees, it was a timing hiccup of a loaded machine (counted
and listed as "flaky", not failed); if it still differs, it fails: the seed, both programs
and the diff are printed. Exit status 1 on any failure.
"""
import argparse
import concurrent.futures as cf
import difflib
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gen  # noqa: E402

# CPython 3.12 is the reference (pyenv's 3.12.1 here); DIFFTEST_PYTHON names another binary.
PYTHON = [os.environ.get("DIFFTEST_PYTHON", "python3.12"), "-u"]
PY_ENV = dict(os.environ, PYENV_VERSION="3.12.1")


def check_python():
    try:
        v = subprocess.run(PYTHON + ["-c", "import sys; print(sys.version_info[:2])"],
                           capture_output=True, text=True, env=PY_ENV).stdout.strip()
    except OSError:
        v = ""
    if v != "(3, 12)":
        raise SystemExit("difftest: %s is not CPython 3.12 (got %r); set DIFFTEST_PYTHON"
                         % (PYTHON[0], v))


def compile_batch(cxx, lib, src, exe):
    cmd = cxx + ["-std=c++20", "-O0", "-g0", "-I", os.path.join(ROOT, "include"), "-I", HERE,
                 src, lib, "-lssl", "-lcrypto", "-luring", "-pthread", "-o", exe]
    t = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-20000:])
        raise SystemExit("difftest: compiling %s failed" % src)
    return time.monotonic() - t


def split(out):
    """{scenario: [lines]} from a driver's output."""
    res, cur = {}, None
    for line in out.splitlines():
        if line.startswith("=== "):
            cur = line[4:]
            res[cur] = []
        elif cur is not None:
            res[cur].append(line)
    return res


def run_cmd(cmd, env, timeout):
    """(stdout, status); status is the exit code or "timeout"."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        return r.stdout, r.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out, "timeout"


def run_both(exe, py, names, unit, timeout):
    """Runs the names under both; returns ({name: cpp lines}, {name: py lines}, statuses)."""
    args = [repr(unit)] + names
    with cf.ThreadPoolExecutor(2) as ex:
        fc = ex.submit(run_cmd, [exe] + args, None, timeout)
        fp = ex.submit(run_cmd, PYTHON + [py] + args, PY_ENV, timeout)
        (co, cs), (po, ps) = fc.result(), fp.result()
    return split(co), split(po), (cs, ps)


def run_chunk(exe, py, names, unit):
    """Runs a chunk of scenarios in one process each side. If either side crashed or hung, the
    chunk is run again scenario by scenario, so that the failure is attributed to the right
    one: its output then ends with the exit status, which shows in the diff. A scenario that
    hangs in both (a deadlock the generator allowed) compares equal if both printed the same."""
    c, p, (cs, ps) = run_both(exe, py, names, unit, 20 + len(names))
    if cs == 0 and ps == 0 and all(n in c and n in p for n in names):
        return c, p
    for n in names:
        c1, p1, (cs, ps) = run_both(exe, py, [n], unit, 8)
        c[n] = c1.get(n, []) + ([] if cs == 0 else ["<<exit status %s>>" % cs])
        p[n] = p1.get(n, []) + ([] if ps == 0 else ["<<exit status %s>>" % ps])
    return c, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--per", type=int, default=250, help="scenarios per C++ translation unit")
    ap.add_argument("--chunk", type=int, default=50, help="scenarios per process run")
    ap.add_argument("--unit", type=float, default=0.01, help="seconds per time slot")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--preset", default="debug")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "difftest"))
    a = ap.parse_args()

    check_python()
    lib = os.path.join(ROOT, "build", a.preset, "libasyncio.a")
    if not os.path.exists(lib):
        raise SystemExit("difftest: %s missing (build the asyncio target first)" % lib)
    cxx = ["g++"]
    if shutil.which("ccache"):
        cxx = ["ccache", "g++"]
    os.makedirs(a.out, exist_ok=True)
    seeds = list(range(a.first, a.first + a.count))
    batches = []
    for k in range(0, len(seeds), a.per):
        name = "batch_%d_%d" % (seeds[k], min(seeds[k] + a.per, seeds[-1] + 1) - 1)
        gen.write_batch(a.out, name, seeds[k:k + a.per])
        batches.append((name, seeds[k:k + a.per]))

    # Pipeline: each translation unit's scenarios start running as soon as it is compiled
    # (running is mostly sleeping, so it overlaps the next compile well).
    t = time.monotonic()
    ctimes, compile_done = [], [0.0]
    passed, flaky, failed = 0, [], []

    def build(b):
        dt = compile_batch(cxx, lib, os.path.join(a.out, b[0] + ".cpp"), os.path.join(a.out, b[0]))
        ctimes.append(dt)
        compile_done[0] = time.monotonic() - t
        return b

    rtimes = []

    def check(job):
        exe, py, names = job
        t1 = time.monotonic()
        c, p = run_chunk(exe, py, names, a.unit)
        rtimes.append(time.monotonic() - t1)
        res = []
        for n in names:
            if c.get(n) == p.get(n):
                res.append((n, "pass", None))
                continue
            # Alone and slower: a mismatch that goes away was the machine, not the library.
            c2, p2 = run_chunk(exe, py, [n], a.unit * 4)
            if c2.get(n) == p2.get(n):
                res.append((n, "flaky", None))
            else:
                res.append((n, "fail", (n, exe, py, c2.get(n, []), p2.get(n, []))))
        return log_chunk(res)

    # Progress, one line per chunk, flushed: a long run that is interrupted still tells.
    progress = open(os.path.join(a.out, "progress.log"), "a")

    def log_chunk(res):
        counts = {k: sum(1 for _, st, _ in res if st == k) for k in ("pass", "flaky", "fail")}
        progress.write("%s..%s %d passed %d flaky %d failed %s\n" % (
            res[0][0], res[-1][0], counts["pass"], counts["flaky"], counts["fail"],
            " ".join(n for n, st, _ in res if st != "pass")))
        progress.flush()
        return res

    with cf.ThreadPoolExecutor(a.jobs) as cex, cf.ThreadPoolExecutor(a.jobs) as rex:
        runs = []
        for fut in cf.as_completed([cex.submit(build, b) for b in batches]):
            name, bseeds = fut.result()
            exe, py = os.path.join(a.out, name), os.path.join(a.out, name + ".py")
            for k in range(0, len(bseeds), a.chunk):
                runs.append(rex.submit(check, (exe, py, ["s%d" % s for s in bseeds[k:k + a.chunk]])))
        for r in runs:
            for n, status, info in r.result():
                if status == "fail":
                    failed.append(info)
                else:
                    passed += 1
                    if status == "flaky":
                        flaky.append(n)
    total_wall = time.monotonic() - t
    compile_wall = compile_done[0]

    for n, exe, py, c, p in failed:
        print("difftest: MISMATCH scenario %s (seed %s)" % (n, n[1:]))
        print("  python: PYENV_VERSION=3.12.1 python3.12 %s %r %s" % (py, a.unit * 4, n))
        print("  c++:    %s %r %s   (source %s.cpp)" % (exe, a.unit * 4, n, exe))
        for line in difflib.unified_diff(p, c, "python3.12", "c++", lineterm="", n=100):
            print("    " + line)
    n = len(seeds)
    print("difftest: %d scenarios in %d TUs; per 100 scenarios: compile %.1f s, run %.1f s "
          "(both sides at once, first runs only); wall: compile %.1f s, total %.1f s "
          "(runs overlap compiles)"
          % (n, len(batches), 100 * sum(ctimes) / n, 100 * sum(rtimes) / n, compile_wall,
             total_wall))
    if flaky:
        print("difftest: %d timing hiccups (agreed when re-run alone with a 4x unit): %s"
              % (len(flaky), " ".join(flaky)))
    print("difftest: %d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Executions per second of the fuzz targets, to compare fuzz builds side by side.

Usage: scripts/fuzz-rate.py [-t SECONDS] [-r RUNS] [--plan DIR] BUILD [BUILD...] [-- target...]
       scripts/fuzz-rate.py --print-plan BUILD [-- target...]

For each fuzz target (the ctest entries labelled `fuzz` of the first BUILD, or of the build
folder --plan names; options and seed folders as CI runs them), runs the same target of every
BUILD at the same time for SECONDS (default 15) with -seed=1, each from the committed seeds (read
only) into its own empty scratch corpus, and prints per build: executions, executions per
wall-clock second, and executions per CPU second (user + system of the fuzzer process). A BUILD
needs only the executables, at the paths they have in the --plan folder. With -r, each run stops
after RUNS executions instead (SECONDS is then only a cap): the same work for every build, which
makes the CPU figures comparable even when the machine is busy. On a shared machine the CPU figure is the one
to compare: it does not count the time the fuzzer waited for a core.

Nothing is kept: the scratch corpora and logs live in a temporary folder removed at the end.

--print-plan prints the plan and runs nothing, one line per target, for scripts/fuzz-campaign.sh:
<target> <executable> <options...> -- <seed folders...>.
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time


# One row per fuzz target of `build` (only those in `wanted`, if any): (target, executable relative
# to build, options, seed folders). The ctest entry's time and run limits, artifact prefix and
# work folder (its first folder) are left out: whoever runs the plan sets its own.
def plan(build, wanted):
    out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1", "-L", "fuzz"],
                         check=True, capture_output=True, text=True).stdout
    rows = []
    for test in json.loads(out)["tests"]:
        cmd = test.get("command")  # absent when the executable is not built
        if not cmd:
            continue
        target = os.path.basename(cmd[0])
        if wanted and target not in wanted:
            continue
        opts = [a for a in cmd[1:] if a.startswith("-") and not a.startswith(
            ("-max_total_time=", "-runs=", "-artifact_prefix=", "-print_final_stats="))]
        dirs = [a for a in cmd[1:] if not a.startswith("-")]
        rows.append((target, os.path.relpath(cmd[0], build), opts, dirs[1:]))
    return rows


def main():
    argv = sys.argv[1:]
    targets = []
    if "--" in argv:
        targets = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-t", type=int, default=15, help="seconds per target (default 15)")
    ap.add_argument("-r", type=int, default=0, help="executions per target (default: no limit)")
    ap.add_argument("--plan", help="build folder whose ctest entries to run (default: first BUILD)")
    ap.add_argument("--print-plan", action="store_true", help="print the plan, run nothing")
    ap.add_argument("builds", nargs="+")
    args = ap.parse_args(argv)
    if args.print_plan:
        for target, exe, opts, seeds in plan(args.plan or args.builds[0], set(targets)):
            print(" ".join([target, os.path.join(args.builds[0], exe)] + opts + ["--"] + seeds))
        return 0

    env = dict(os.environ)
    env["UBSAN_OPTIONS"] = ("print_stacktrace=1:halt_on_error=1:suppressions=" +
                            os.path.abspath("scripts/ubsan-fuzz.supp"))
    scratch = tempfile.mkdtemp(prefix="sluice-fuzz-rate-")
    header = f"{'target':28}" + "".join(
        f" | {os.path.basename(b.rstrip('/')):>24}" for b in args.builds)
    print(header)
    print(f"{'':28}" + " | execs    /s wall   /s CPU" * len(args.builds))
    status = 0
    try:
        for target, exe, opts, seeds in plan(args.plan or args.builds[0], set(targets)):
            procs = []
            for i, build in enumerate(args.builds):
                work = os.path.join(scratch, f"{target}-{i}")
                os.makedirs(work)
                log = open(work + ".log", "w")
                cmd = [os.path.join(build, exe)] + opts + [
                    f"-max_total_time={args.t}", f"-runs={args.r or -1}", "-seed=1", "-print_final_stats=1",
                    f"-artifact_prefix={work}/", work] + seeds
                start = time.monotonic()
                p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                procs.append((p, start, work + ".log"))
            # Reap the runs in the order they finish, for each its own wall and CPU time.
            done = {}
            while len(done) < len(procs):
                pid, code, usage = os.wait4(-1, 0)
                done[pid] = (code, usage, time.monotonic())
            row = f"{target:28}"
            for p, start, logname in procs:
                code, usage, end = done[p.pid]
                p.returncode = code
                wall = end - start
                cpu = usage.ru_utime + usage.ru_stime
                text = open(logname, errors="replace").read()
                m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
                execs = int(m[-1]) if m else 0
                if code != 0 or not m:
                    status = 1
                    shutil.copy(logname, os.path.join(tempfile.gettempdir(),
                                                      os.path.basename(logname)))
                    row += f" | {'FAILED, log in /tmp':>24}"
                    continue
                row += f" | {execs:8d} {execs / wall:7.0f} {execs / cpu:7.0f}"
            print(row, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Integration tests: run the real `sluice` executable on pipeline files.

    cli_test.py CASE --sluice PATH --test-plugins DIR

Each CASE is one ctest (integration.<case>). Every wait is bounded; nothing asserts on time.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

SECRET = "Tr0ub4dor-and-3"  # must never show up in any output


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


def run(args, timeout=60, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([A.sluice] + args, capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def poll(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def lines_of(path):
    try:
        with open(path) as f:
            return [l for l in f.read().splitlines() if l]
    except FileNotFoundError:
        return []


# ---- cases ------------------------------------------------------------------------------

def case_version(tmp):
    rc, out, _ = run(["--version"])
    check(rc == 0, "--version exits 0")
    check(out.startswith("sluice ") and "plugin API 1.0" in out, "--version names the API: " + out.strip())


def case_usage(tmp):
    rc, _, err = run(["frobnicate"])
    check(rc == 2, "an unknown command exits 2")
    check("unknown command 'frobnicate'" in err, "and says which")
    rc, _, err = run(["run"])
    check(rc == 2, "run without PIPELINE exits 2")
    check("sluice run:" in err and "Usage: sluice run PIPELINE" in err, "and prints the usage")
    rc, _, err = run(["validate", "a.yaml", "--bogus"])
    check(rc == 2 and "bogus" in err, "an unknown option exits 2 and names it")
    for cmd in ["run", "validate", "plugins"]:
        rc, out, _ = run([cmd, "--help"])
        check(rc == 0 and ("Usage: sluice " + cmd) in out and "--log-level" in out,
              cmd + " --help prints its options")
    rc, out, _ = run(["--help"])
    check(rc == 0 and all(c in out for c in ["run", "validate", "plugins"]), "--help lists the commands")


def case_validate_ok(tmp):
    out_file = os.path.join(tmp, "out.jsonl")
    p = write(tmp, "ok.yaml", f"""
version: 1
sources:
  gen: {{plugin: generator, options: {{count: 5, rate: 0}}}}
sinks:
  out: {{plugin: file, options: {{path: {out_file}}}}}
routes:
  - {{from: gen, to: out}}
""")
    rc, out, err = run(["validate", p])
    check(rc == 0, f"a valid pipeline exits 0 (stderr: {err.strip()})")
    check("valid (1 source(s), 1 sink(s), 1 route(s))" in out, "and says so: " + out.strip())


def case_validate_errors(tmp):
    p = write(tmp, "bad.yaml", """version: 1
sources:
  gen:
    plugin: generator
    options: {count: many, template: nonsense}
sinks:
  out:
    plugin: file
    options: {format: json}
routes:
  - {from: gen, to: nowhere}
""")
    rc, out, err = run(["validate", p])
    check(rc == 1, f"an invalid pipeline exits 1 (got {rc})")
    errors = [l for l in err.splitlines() if ": error: " in l]
    for l in errors:
        print("   " + l)
    check(len(errors) >= 3, f"every error is listed ({len(errors)} found)")
    check(all(l.startswith(p + ":") and l.split(":")[1].isdigit() and l.split(":")[2].isdigit()
              for l in errors), "each as file:line:col")
    check(any(":5:" in l for l in errors), "the bad options are on line 5")
    check("invalid" in err, "and a summary says invalid")


def secret_pipeline(tmp, extra_sink_options=""):
    return f"""version: 1
log: {{level: debug}}
plugins: {{path: [{A.test_plugins}]}}
sources:
  src:
    plugin: counting
    options: {{count: 3, log: "logging in with ${{SLUICE_IT_SECRET}}"}}
sinks:
  out:
    plugin: scripted
    options: {{then: ok{extra_sink_options}}}
routes:
  - {{from: src, to: out}}
"""


def case_secret_validate(tmp):
    # The secret sits in a value that breaks the schema: its error must not show it.
    p = write(tmp, "s.yaml", secret_pipeline(tmp).replace("count: 3", "count: ${SLUICE_IT_SECRET}"))
    rc, out, err = run(["validate", p], env={"SLUICE_IT_SECRET": SECRET})
    print(err)
    check(rc == 1, "a secret in a wrong-typed option is an error")
    check(SECRET not in out + err, "the secret appears nowhere in validate's output")


def case_secret_run(tmp):
    p = write(tmp, "s.yaml", secret_pipeline(tmp))
    proc = subprocess.Popen([A.sluice, "run", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, SLUICE_IT_SECRET=SECRET))
    time.sleep(0.0)
    out, err = stop_and_collect(proc, lambda: True, settle_on="started:")
    check("logging in with ***" in err, "the plugin's log line is redacted")
    check(SECRET not in out + err, "the secret appears nowhere in the run's output")


def stop_and_collect(proc, ready, settle_on=None, sig=signal.SIGTERM, timeout=30):
    """Waits for `ready` (and for `settle_on` in stderr), sends sig, returns (stdout, stderr)."""
    err_lines = []
    import threading

    def reader():
        for line in proc.stderr:
            err_lines.append(line)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    poll(lambda: ready() and (settle_on is None or any(settle_on in l for l in err_lines)) or
         proc.poll() is not None, timeout)
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out = proc.stdout.read()
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("sluice did not stop after the signal")
    t.join(timeout=5)
    err = "".join(err_lines)
    print(err)
    return out, err


def case_run_generator_file(tmp):
    out_file = os.path.join(tmp, "events.jsonl")
    p = write(tmp, "run.yaml", f"""version: 1
sources:
  gen: {{plugin: generator, options: {{count: 50, rate: 0, template: hmc-os-message}}}}
sinks:
  out:
    plugin: file
    options: {{path: {out_file}, format: json}}
    batch: {{max_events: 7, max_delay: 10ms}}
routes:
  - {{from: gen, to: out}}
""")
    proc = subprocess.Popen([A.sluice, "run", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _, err = stop_and_collect(proc, lambda: len(lines_of(out_file)) >= 50)
    check(proc.returncode == 0, f"SIGTERM ends the run with exit 0 (got {proc.returncode})")
    lines = lines_of(out_file)
    check(len(lines) == 50, f"all 50 events are in the file ({len(lines)})")
    events = [json.loads(l) for l in lines]
    check(all(e.get("type") == "hmc.os-message" for e in events), "with the generator's type")
    first = events[0]
    attrs = first.get("attributes", {})
    check(attrs.get("sluice-source") == "gen" or "sluice-source\":\"gen" in lines[0],
          "each carries sluice-source: gen")
    check("SIGTERM: stopping" in err, "the signal is logged")
    check("stopped; accounting:" in err and " yes" in err, "the accounting table is logged, balanced")


def case_run_invalid(tmp):
    p = write(tmp, "bad.yaml", "version: 1\nsources: {}\nsinks: {}\nroutes: [{from: a, to: b}]\n")
    rc, _, err = run(["run", p])
    check(rc == 1, f"run refuses an invalid pipeline with exit 1 (got {rc})")
    check("not started" in err, "and says it did not start")


def case_run_start_fails(tmp):
    p = write(tmp, "f.yaml", secret_pipeline(tmp, ", fail_create: true"))
    rc, _, err = run(["run", p], env={"SLUICE_IT_SECRET": SECRET})
    print(err)
    check(rc == 3, f"a sink whose create fails ends run with exit 3 (got {rc})")
    check("cannot start: sink 'out' (plugin scripted): create failed: told to fail in create" in err,
          "naming the sink and the reason")


def case_plugins(tmp):
    rc, out, err = run(["plugins", "--path", A.test_plugins])
    print(out)
    check(rc == 1, "a refused plugin on the path makes `plugins` exit 1")
    check("scripted 1.0.0 (sink, plugin API 1.0)" in out, "a sink is listed with version, kind, API")
    check("answers (array of string)" in out and "then (string) default \"ok\"" in out,
          "with its options, types and defaults")
    check("sluice_wrong_major.so: REFUSED" in out and "built for sluice plugin API 2.0" in out,
          "a refused plugin says why")
    rc, out, _ = run(["plugins"])
    check(rc == 0, "the default path (next to the executable) holds only good plugins")
    check("generator" in out and "(source, plugin API 1.0)" in out, "the generator is found there")


def start_and_wait(args, needle, timeout=30):
    """Starts sluice; returns (proc, stderr lines list, reader thread) once needle was logged."""
    import threading
    proc = subprocess.Popen([A.sluice] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines = []

    def reader():
        for line in proc.stderr:
            lines.append(line)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    if not poll(lambda: any(needle in l for l in lines) or proc.poll() is not None, timeout):
        proc.kill()
        fail("never logged: " + needle + "\n" + "".join(lines))
    return proc, lines, t


def case_sighup_reopens(tmp):
    out_file = os.path.join(tmp, "events.jsonl")
    p = write(tmp, "h.yaml", f"""version: 1
sources:
  gen: {{plugin: generator, options: {{count: 3, rate: 0}}}}
sinks:
  out: {{plugin: file, options: {{path: {out_file}}}}}
routes:
  - {{from: gen, to: out}}
""")
    proc, lines, t = start_and_wait(["run", p], "started:")
    proc.send_signal(signal.SIGHUP)
    ok = poll(lambda: any("[out] reopened" in l for l in lines), 30)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    t.join(timeout=5)
    print("".join(lines))
    check(ok, "SIGHUP makes the file sink reopen its file")
    check(proc.returncode == 0, "and the run goes on until SIGTERM (exit 0)")


def case_second_sigint_exits(tmp):
    # A sink stuck in deliver (delay 100 s) keeps the drain waiting; the second SIGINT ends it.
    p = write(tmp, "s.yaml", f"""version: 1
shutdown: {{drain_timeout: 5m}}
plugins: {{path: [{A.test_plugins}]}}
sources:
  src: {{plugin: counting, options: {{count: 3}}}}
sinks:
  out: {{plugin: scripted, options: {{delay_ms: 100000}}}}
routes:
  - {{from: src, to: out}}
""")
    proc, lines, t = start_and_wait(["run", p], "state: up")
    proc.send_signal(signal.SIGINT)
    poll(lambda: any("SIGINT: stopping" in l for l in lines), 30)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("the second SIGINT did not end sluice")
    t.join(timeout=5)
    print("".join(lines))
    check(proc.returncode == 130, f"the second SIGINT exits 130 at once (got {proc.returncode})")
    check(any("second SIGINT" in l for l in lines), "and says so")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--test-plugins", required=True)
    A = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-it-") as tmp:
        CASES[A.case](tmp)
    print("PASS")

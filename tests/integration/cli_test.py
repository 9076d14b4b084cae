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
    check(out.startswith("sluice ") and "plugin API 1.1" in out, "--version names the API: " + out.strip())


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


def case_validate_untrusted_plugin_dir(tmp):
    # `plugins.path` comes from the pipeline file, and validate loads plugin code: a plugin in a
    # directory anyone can write to must be refused before it is loaded, not run.
    shared = os.path.join(tmp, "shared")
    os.mkdir(shared)
    import shutil
    shutil.copy(os.path.join(A.test_plugins, "sluice_scripted.so"), shared)
    os.chmod(os.path.join(shared, "sluice_scripted.so"), 0o644)
    os.chmod(shared, 0o1777)  # like /tmp: sticky does not make it a place for code
    p = write(tmp, "untrusted.yaml", f"""version: 1
plugins: {{path: [{shared}]}}
sources:
  gen: {{plugin: generator, options: {{count: 1, rate: 0}}}}
sinks:
  out: {{plugin: scripted, options: {{then: ok}}}}
routes:
  - {{from: gen, to: out}}
""")
    rc, out, err = run(["validate", p])
    print(out + err)
    check(rc == 1, f"validate refuses the pipeline (exit {rc})")
    check("refused: directory " + shared + " is writable by group or others (mode 1777)" in err,
          "naming the directory and why")
    os.chmod(shared, 0o755)
    rc, out, err = run(["validate", p])
    check(rc == 0, f"the same plugin in a directory only its owner can write to is fine ({err.strip()})")


def secret_pipeline(tmp, extra_sink_options=""):
    return f"""version: 1
log: {{level: debug}}
plugins: {{path: [{A.test_plugins}]}}
sources:
  src:
    plugin: counting
    options: {{count: 3, password: "${{SLUICE_IT_SECRET}}", log: "logging in with ${{SLUICE_IT_SECRET}}"}}
sinks:
  out:
    plugin: scripted
    options: {{then: ok{extra_sink_options}}}
routes:
  - {{from: src, to: out}}
"""


def case_secret_validate(tmp):
    # The secret (the value of a secret option, `password`) also sits in a value that breaks the
    # schema: its error must not show it.
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


def case_run_fifo_reader_exits(tmp):
    # A file sink on a FIFO whose reader goes away (like `head` after its lines): sluice must not
    # die of SIGPIPE (exit 141); the write error is logged, retried and the accounting balances.
    fifo = os.path.join(tmp, "events.fifo")
    os.mkfifo(fifo, 0o600)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the sink opens it without blocking
    p = write(tmp, "fifo.yaml", f"""version: 1
sources:
  gen: {{plugin: generator, options: {{count: 100000, rate: 200, template: hmc-os-message}}}}
sinks:
  out:
    plugin: file
    options: {{path: {fifo}, format: json}}
    batch: {{max_events: 5, max_delay: 10ms}}
    retry: {{initial: 50ms, max: 200ms}}
routes:
  - {{from: gen, to: out}}
""")
    log_path = os.path.join(tmp, "sluice.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([A.sluice, "run", p], stdout=subprocess.DEVNULL, stderr=log)
    got = b""

    def read_some():
        nonlocal got
        try:
            got += os.read(reader, 65536)
        except BlockingIOError:
            pass
        return len(got) > 0

    check(poll(read_some), "the reader gets events through the FIFO")
    os.close(reader)  # the reader exits
    check(poll(lambda: "went away (EPIPE)" in open(log_path).read() or proc.poll() is not None),
          "the next write notices")
    check(proc.poll() is None, f"sluice is still running (exit {proc.returncode})")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err = open(log_path).read()
    print(err[-3000:])
    check(proc.returncode == 0, f"SIGTERM ends the run with exit 0, not 141 (got {proc.returncode})")
    check("write '" + fifo + "': Broken pipe" in err, "the EPIPE is logged with the path")
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


def checking_pipeline(options):
    return f"""version: 1
plugins: {{path: [{A.test_plugins}]}}
sources:
  c:
    plugin: checking
    options:
{options}
  old:
    plugin: abi10_source
sinks:
  out: {{plugin: "null"}}
routes:
  - {{from: [c, old], to: out}}
"""


def case_plugin_check(tmp):
    # A plugin's own options check (API 1.1 check_options, here a C plugin): validate reports
    # its problem at the option's line, run refuses the same way before creating anything
    # (create would refuse it with exit 3 and no line); the 1.0 plugin beside it is unaffected.
    p = write(tmp, "port.yaml", checking_pipeline("      port: 70000\n      broken: false"))
    want = f"{p}:7:7: error: sources.c: port: 70000 is not a TCP port (1 to 65535)"
    rc, _, err = run(["validate", p])
    print(err)
    check(rc == 1 and want in err.splitlines(), "validate: the plugin's problem at the option")
    rc, _, err = run(["run", p], timeout=60)
    check(rc == 1 and want in err.splitlines() and "not started" in err,
          f"run: the same line, exit 1 (got {rc}), nothing started")
    p = write(tmp, "fine.yaml", checking_pipeline("      port: 8080"))
    rc, out, err = run(["validate", p])
    check(rc == 0 and "valid" in out, f"a port the check accepts is valid ({err.strip()})")
    p = write(tmp, "broken.yaml", checking_pipeline("      broken: true"))
    rc, _, err = run(["validate", p])
    print(err)
    check(rc == 1 and f"{p}:5:13: error: sources.c.plugin: plugin 'checking' (" in err and
          "could not check the options of sources.c: check_options failed: cannot check: told to "
          "break" in err, "a check that fails is an error naming the plugin and the instance")


def case_plugins(tmp):
    rc, out, err = run(["plugins", "--path", A.test_plugins])
    print(out)
    check(rc == 1, "a refused plugin on the path makes `plugins` exit 1")
    check("scripted 1.0.0 (sink, plugin API 1.1)" in out, "a sink is listed with version, kind, API")
    check("answers (array of string)" in out and "then (string) default \"ok\"" in out,
          "with its options, types and defaults")
    check("sluice_wrong_major.so: REFUSED" in out and "built for sluice plugin API 2.0" in out,
          "a refused plugin says why")
    rc, out, _ = run(["plugins"])
    check(rc == 0, "the default path (next to the executable) holds only good plugins")
    check("generator" in out and "(source, plugin API 1.1)" in out, "the generator is found there")


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


def case_stuck_sink_sigterm(tmp):
    # A sink whose deliver() and stop() never return (a write() to a peer that reads nothing):
    # SIGTERM still ends sluice, soon after drain_timeout, naming the sink and counting what it held.
    p = write(tmp, "stuck.yaml", f"""version: 1
shutdown: {{drain_timeout: 200ms}}
plugins: {{path: [{A.test_plugins}]}}
sources:
  src: {{plugin: counting, options: {{count: 5}}}}
sinks:
  out:
    plugin: scripted
    options: {{gate_closed: true, hang: stop}}
    batch: {{max_events: 2, max_delay: 10ms}}
routes:
  - {{from: src, to: out}}
""")
    proc, lines, t = start_and_wait(["run", p], "state: up")
    time.sleep(0.3)  # let the first batch reach the sink (it is stuck either way)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)  # generous: the guarantee is drain_timeout + 1 s
    except subprocess.TimeoutExpired:
        proc.kill()
        t.join(timeout=5)
        print("".join(lines))
        fail("a sink stuck in deliver() and stop() kept sluice from stopping after SIGTERM")
    t.join(timeout=5)
    err = "".join(lines)
    print(err)
    check(proc.returncode == 3, f"sluice exits 3 when it had to abandon a plugin (got {proc.returncode})")
    check("[out] sink is stuck: it did not return from stop() and deliver()" in err,
          "the stuck sink is named, with the calls it is stuck in")
    row = next((l.split("[core] ", 1)[-1].split() for l in err.splitlines()
                if l.split("[core] ", 1)[-1].startswith("out ")), None)
    check(row is not None and row[-1] == "yes", f"the accounting is balanced: {row}")
    check(row is not None and int(row[1]) == 5 and int(row[8]) >= 1,
          f"5 events received, those the sink held counted as abandoned: {row}")


def case_dead_letter_reason_redacted(tmp):
    # A receiver that echoes the Authorization header it got: the token must not reach the
    # dead-letter file or the log through the reject reason.
    dl = os.path.join(tmp, "dead.jsonl")
    p = write(tmp, "d.yaml", f"""version: 1
plugins: {{path: [{A.test_plugins}]}}
sources:
  src: {{plugin: counting, options: {{count: 2}}}}
sinks:
  out:
    plugin: scripted
    options:
      then: reject
      token: "${{SLUICE_IT_SECRET}}"
      reason: "HTTP 401: got Authorization: Bearer ${{SLUICE_IT_SECRET}}"
    dead_letter: {{path: {dl}}}
routes:
  - {{from: src, to: out}}
""")
    proc = subprocess.Popen([A.sluice, "run", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, SLUICE_IT_SECRET=SECRET))
    out, err = stop_and_collect(proc, lambda: len(lines_of(dl)) >= 2)
    records = [json.loads(l) for l in lines_of(dl)]
    check(len(records) == 2, f"both events are dead-lettered ({len(records)})")
    check(all(r["reason"] == "rejected: HTTP 401: got Authorization: Bearer ***" for r in records),
          f"the reason is there, the token hidden: {records[0]['reason'] if records else None}")
    with open(dl) as f:
        check(SECRET not in f.read(), "the token appears nowhere in the dead-letter file")
    check(SECRET not in out + err, "nor in the log")


def case_insecure_warnings(tmp):
    p = write(tmp, "w.yaml", """version: 1
sources:
  gen: {plugin: generator, options: {count: 1, rate: 0}}
sinks:
  hook:
    plugin: webhook
    options: {url: "http://127.0.0.1:9/x", auth: {bearer: "${SLUICE_IT_SECRET}"}}
  tls:
    plugin: webhook
    options: {url: "https://127.0.0.1:9/x", tls: {verify: false}}
routes:
  - {from: gen, to: [hook, tls]}
""")
    rc, out, err = run(["validate", p], env={"SLUICE_IT_SECRET": SECRET})
    print(out + err)
    check(rc == 0, "warnings alone leave the pipeline valid")
    check("warning: sinks.hook.options.url: no TLS: this connection is clear text and carries "
          "credentials (auth.bearer)" in err, "an http:// webhook with a bearer token is warned about")
    check("warning: sinks.tls.options.tls.verify: TLS certificate verification is off" in err,
          "tls.verify: false is warned about")
    check(SECRET not in out + err, "the token appears nowhere")
    proc = subprocess.Popen([A.sluice, "run", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, SLUICE_IT_SECRET=SECRET))
    out, err = stop_and_collect(proc, lambda: True, settle_on="started:")
    check("no TLS: this connection is clear text" in err and "verification is off" in err,
          "run says the same at start")
    check(SECRET not in out + err, "and never shows the token")


def gen_file_pipeline(out_file):
    # An endless generator (50 events/s) into a file: events keep arriving while it runs.
    return f"""version: 1
sources:
  gen: {{plugin: generator, options: {{rate: 50}}}}
sinks:
  out:
    plugin: file
    options: {{path: {out_file}, format: json}}
    batch: {{max_events: 5, max_delay: 10ms}}
routes:
  - {{from: gen, to: out}}
"""


def case_reload_invalid_keeps_old(tmp):
    out_file = os.path.join(tmp, "events.jsonl")
    p = write(tmp, "r.yaml", gen_file_pipeline(out_file))
    proc, lines, t = start_and_wait(["run", p], "started:")
    check(poll(lambda: len(lines_of(out_file)) >= 5), "the first pipeline writes events")
    # The sink names a plugin that does not exist; the route names a sink that does not exist.
    write(tmp, "r.yaml", gen_file_pipeline(out_file).replace("plugin: file", "plugin: no_such_plugin")
          .replace("to: out", "to: nowhere"))
    proc.send_signal(signal.SIGHUP)
    refused = poll(lambda: any("reload refused" in l for l in lines) or proc.poll() is not None)
    before = len(lines_of(out_file))
    more = poll(lambda: len(lines_of(out_file)) >= before + 10)
    still_running = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    t.join(timeout=5)
    print("".join(lines))
    check(refused, "an invalid pipeline file is refused on SIGHUP")
    check(any("reload refused: the running pipeline stays" in l for l in lines), "and it says so")
    errors = [l for l in lines if (p + ":") in l and ": error: " in l]
    check(len(errors) >= 2, f"every error is logged ({len(errors)})")
    check(all(l.split(p + ":")[1].split(":")[0].isdigit() and l.split(p + ":")[1].split(":")[1].isdigit()
              for l in errors), "each with file:line:col")
    check(any("[out] reopened" in l for l in lines), "the outputs were reopened first")
    check(not any("reloaded:" in l for l in lines), "nothing was reloaded")
    check(still_running and more, f"events keep arriving in the old file ({before} -> {len(lines_of(out_file))})")
    check(proc.returncode == 0, f"SIGTERM still ends it with exit 0 (got {proc.returncode})")


def case_reload_valid_switches(tmp):
    old_file = os.path.join(tmp, "old.jsonl")
    new_file = os.path.join(tmp, "new.jsonl")
    p = write(tmp, "r.yaml", gen_file_pipeline(old_file))
    proc, lines, t = start_and_wait(["run", p], "started:")
    check(poll(lambda: len(lines_of(old_file)) >= 5), "the first pipeline writes events")
    # An unchanged file: only the reopen.
    proc.send_signal(signal.SIGHUP)
    unchanged = poll(lambda: any("is unchanged" in l for l in lines) or proc.poll() is not None)
    write(tmp, "r.yaml", gen_file_pipeline(new_file).replace("gen:", "gen2:").replace("from: gen", "from: gen2"))
    proc.send_signal(signal.SIGHUP)
    reloaded = poll(lambda: any("reloaded:" in l for l in lines) or proc.poll() is not None)
    arrived = poll(lambda: len(lines_of(new_file)) >= 5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    t.join(timeout=5)
    err = "".join(lines)
    print(err)
    check(unchanged, "SIGHUP on an unchanged file keeps the pipeline")
    check(reloaded and "reloaded: 1 source(s), 1 sink(s), 1 route(s)" in err, "a changed valid file is reloaded")
    check(arrived, "events arrive in the new pipeline's file")
    # The old runtime's accounting: logged before "reloaded:", balanced, matching the old file.
    before = err[:err.index("reloaded:")]
    check("stopped; accounting:" in before, "the old pipeline was stopped with its accounting logged")
    # One log record per row: "<time> info [core] <row>".
    table = [l.split("[core] ", 1)[-1] for l in before[before.rindex("stopped; accounting:"):].splitlines()]
    row = next((l.split() for l in table if l.startswith("out ")), None)
    check(row is not None and row[-1] == "yes", f"the old sink's accounting is balanced: {row}")
    check(int(row[1]) > 0 and int(row[3]) == len(lines_of(old_file)),
          f"and its delivered count ({row[3]}) is what the old file holds ({len(lines_of(old_file))})")
    check(any(l.startswith("gen ") for l in table), "the old source is in the table")
    check(proc.returncode == 0, f"SIGTERM ends the new pipeline with exit 0 (got {proc.returncode})")


def case_reload_start_fails_restores_old(tmp):
    out_file = os.path.join(tmp, "events.jsonl")
    p = write(tmp, "r.yaml", gen_file_pipeline(out_file))
    proc, lines, t = start_and_wait(["run", p], "started:")
    check(poll(lambda: len(lines_of(out_file)) >= 5), "the first pipeline writes events")
    # Valid, but its sink's create fails: the previous pipeline must run again.
    write(tmp, "r.yaml", f"""version: 1
plugins: {{path: [{A.test_plugins}]}}
sources:
  gen: {{plugin: generator, options: {{rate: 50}}}}
sinks:
  bad: {{plugin: scripted, options: {{fail_create: true}}}}
routes:
  - {{from: gen, to: bad}}
""")
    proc.send_signal(signal.SIGHUP)
    restored = poll(lambda: any("previous pipeline runs again" in l for l in lines) or
                    proc.poll() is not None)
    before = len(lines_of(out_file))
    more = poll(lambda: len(lines_of(out_file)) >= before + 10)
    still_running = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    t.join(timeout=5)
    err = "".join(lines)
    print(err)
    check("reload: cannot start the new pipeline: sink 'bad' (plugin scripted): create failed" in err,
          "a new pipeline that cannot start is logged with the reason")
    check(restored and still_running, "the previous pipeline is started again")
    check(not any("reloaded:" in l for l in lines), "nothing claims a reload")
    check(more, f"events arrive in the old file again ({before} -> {len(lines_of(out_file))})")
    check(proc.returncode == 0, f"SIGTERM ends it with exit 0 (got {proc.returncode})")


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

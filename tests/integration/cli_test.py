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
import tempfile
import time

from checks import check, fail, lines_of, poll, write

SECRET = "Tr0ub4dor-and-3"  # must never show up in any output


def run(args, timeout=60, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([A.sluice] + args, capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


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


def hmc_reload_pipeline(ports, ca, password_file, out_file, second_file=None, second_filter=""):
    # The fake HMC's topic into a file; with second_file, a second sink and route as well (with
    # second_filter, a filter on that route).
    second = ""
    if second_file:
        second = f"""  second:
    plugin: file
    options: {{path: {second_file}, format: json}}
"""
    return f"""version: 1
sources:
  hmc1:
    plugin: hmc_stomp
    options:
      host: 127.0.0.1
      api_port: {ports["api_port"]}
      stomp_port: {ports["stomp_port"]}
      userid: hmcuser
      password: ${{file:{password_file}}}
      topics: [sluice.reload]
      tls: {{ca_file: {ca}}}
sinks:
  out:
    plugin: file
    options: {{path: {out_file}, format: json}}
    batch: {{max_events: 20, max_delay: 10ms}}
{second}routes:
  - {{from: hmc1, to: out}}
""" + (f"  - {{from: hmc1, to: second{second_filter}}}\n" if second_file else "")


def case_reload_keeps_hmc_session(tmp):
    # A SIGHUP that adds a sink, then one that changes a route filter, while the fake HMC
    # publishes: the hmc_stomp source goes over running (no new STOMP logon), every notification
    # reaches the file exactly once, and the counters go on instead of restarting at zero.
    import ssl
    import urllib.request
    total = 1500
    fake = os.path.join(os.path.dirname(A.sluice), "sluice-fake-hmc")
    ca = os.path.join(tmp, "hmc-ca.pem")
    ready = os.path.join(tmp, "hmc.ready")
    scenario = write(tmp, "scenario.json", '{"topics": ["sluice.reload"]}\n')
    script = write(tmp, "script.jsonl",
                   '{"wait_for_subscribers": 1, "topic": "sluice.reload", "timeout": "60s"}\n'
                   f'{{"topic": "sluice.reload", "type": "os-message", "repeat": {total}, "rate": 300}}\n')
    password = write(tmp, "hmc-password", "hmcpassword\n")
    hmc = subprocess.Popen([fake, "--api-port", "0", "--stomp-port", "0", "--scenario", scenario,
                            "--script", script, "--ca-out", ca, "--ready-file", ready, "-q"])
    proc = None
    try:
        check(poll(lambda: os.path.exists(ready), 60), "the fake HMC listens")
        with open(ready) as f:
            ports = json.load(f)
        ctx = ssl.create_default_context(cafile=ca)

        def stats():
            url = f"https://127.0.0.1:{ports['api_port']}/fake/stats"
            with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
                return json.load(r)
        out_file = os.path.join(tmp, "out.jsonl")
        second_file = os.path.join(tmp, "second.jsonl")
        p = write(tmp, "hmc.yaml", hmc_reload_pipeline(ports, ca, password, out_file))
        proc, lines, t = start_and_wait(["run", p], "started:")
        check(poll(lambda: len(lines_of(out_file)) >= 200, 60), "notifications reach the file")
        before = stats()
        write(tmp, "hmc.yaml", hmc_reload_pipeline(ports, ca, password, out_file, second_file))
        proc.send_signal(signal.SIGHUP)
        reloaded = poll(lambda: any("reloaded:" in l for l in lines) or proc.poll() is not None)
        at_reload = len(lines_of(out_file))
        check(reloaded and proc.poll() is None, "the SIGHUP reloads the pipeline")
        check(at_reload < total, f"while the fake HMC still publishes ({at_reload} of {total} so far)")
        # A second reload that changes only a route's filter: everything goes over running.
        check(poll(lambda: len(lines_of(second_file)) >= 50), "the new sink writes events")
        write(tmp, "hmc.yaml", hmc_reload_pipeline(ports, ca, password, out_file, second_file,
                                                   ", filter: {type: 'hmc.*'}"))
        proc.send_signal(signal.SIGHUP)
        check(poll(lambda: sum("reloaded:" in l for l in lines) >= 2 or proc.poll() is not None),
              "a second SIGHUP, a changed route filter, reloads it again")
        at_second = len(lines_of(out_file))
        check(at_second < total, f"still while the fake HMC publishes ({at_second} of {total})")
        published = poll(lambda: stats()["notifications"] >= total, 60)
        done = published and poll(lambda: len(lines_of(out_file)) >= total, 20)
        time.sleep(0.5)  # anything delivered twice would show up now
        after = stats()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        t.join(timeout=5)
        err = "".join(lines)
        print(err[-6000:])
        print("fake HMC before the reload:", before)
        print("fake HMC at the end:", after)
        check(done, f"every notification reached the file ({len(lines_of(out_file))} of {total})")
        check("sources kept: hmc1" in err and "sinks kept: out, started: second" in err,
              "the reload says what it kept and started")
        check("reloads so far: 1 ok, 0 failed" in err, "and counts it")
        check("sources kept: hmc1, started: -, stopped: -; sinks kept: out, second, started: -, "
              "stopped: -" in err, "the filter change keeps every source and sink")
        check("reloads so far: 2 ok, 0 failed" in err, "and is counted too")
        check(after["stomp_connects"] == before["stomp_connects"] == 1,
              f"no new STOMP logon ({before['stomp_connects']} -> {after['stomp_connects']})")
        check(after["api_logons"] == before["api_logons"],
              f"no new WS API logon ({before['api_logons']} -> {after['api_logons']})")
        check(after["messages_sent"] == total and after["no_subscriber"] == 0,
              f"the fake sent all {total} to the subscriber ({after})")
        ids = [json.loads(l)["id"] for l in lines_of(out_file)]
        check(len(ids) == total and len(set(ids)) == total,
              f"each notification is in the file exactly once ({len(ids)} lines, {len(set(ids))} ids)")
        second = [json.loads(l)["id"] for l in lines_of(second_file)]
        check(0 < len(second) < total and len(set(second)) == len(second) and set(second) <= set(ids),
              f"the new sink has what came after the reload, once ({len(second)})")
        # The accounting at stop counts from the start of the run, not from the reload.
        table = [l.split("[core] ", 1)[-1].split() for l in err[err.rindex("stopped; accounting:"):].splitlines()]
        out_row = next((r for r in table if r and r[0] == "out"), None)
        src_row = next((r for r in table if r and r[0] == "hmc1"), None)
        check(out_row is not None and int(out_row[1]) == total and int(out_row[3]) == total and
              out_row[-1] == "yes", f"the sink's counters go on across the reload: {out_row}")
        check(src_row is not None and int(src_row[1]) == total,
              f"and the source's: {src_row}")
        check(proc.returncode == 0, f"SIGTERM ends it with exit 0 (got {proc.returncode})")
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        hmc.terminate()
        hmc.wait(timeout=30)


# ---- dead-letter files, validate --no-secrets, messages (issue 12) ----------------------------

def dlq_record(i, hours_ago, sink="hook", reason="HTTP 400 Bad Request", status=400, type_="a.b",
               subject=None):
    import datetime
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours_ago)
    event = {"id": f"e-{i}", "source": "test://dlq", "type": type_}
    if subject:
        event["subject"] = subject
    return json.dumps({"time": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "sink": sink, "reason": reason,
                       "status": status, "attempts": 1, "event": event})


def case_dlq_stats(tmp):
    recs = [dlq_record(1, 0.1), dlq_record(2, 0.5, status=503, reason="HTTP 503 busy"),
            dlq_record(3, 2, type_="c.d"), dlq_record(4, 30, type_="c.d", sink="other"),
            dlq_record(5, 100, status=503, reason="HTTP 503 busy"),
            dlq_record(6, 24 * 8, type_="c.d", status=0, reason="")]
    # one record without a time, one malformed line, one empty line
    no_time = json.loads(dlq_record(7, 0))
    del no_time["time"]
    text = "\n".join(recs + [json.dumps(no_time), "not json", ""]) + "\n"
    f = write(tmp, "d.jsonl", text)
    rc, out, err = run(["dlq", "stats", f, "--json"])
    check(rc == 0, f"dlq stats exits 0 (got {rc}; {err.strip()})")
    s = json.loads(out)
    print(json.dumps(s, indent=1))
    check(s["events"] == 7 and s["malformed_lines"] == 1, "7 events, 1 malformed line")
    check(s["by_type"] == {"a.b": 4, "c.d": 3}, "counts by type")
    check(s["by_reason"] == {"HTTP 400 Bad Request": 4, "HTTP 503 busy": 2, "": 1}, "counts by reason")
    check(s["by_status"] == {"0": 1, "400": 4, "503": 2}, "counts by status")
    check(s["by_sink"] == {"hook": 6, "other": 1}, "counts by sink")
    check(s["by_age"] == {"under 1h": 2, "1h to 1d": 1, "1d to 7d": 2, "7d or more": 1, "no time": 1},
          "counts by age")
    check("d.jsonl:8:" in err, "the malformed line is named with its number")
    rc, out, _ = run(["dlq", "stats", f, "--type", "c.*", "--json"])
    s = json.loads(out)
    check(rc == 0 and s["events"] == 3 and s["left_out_by_filter"] == 4, "filters apply to stats")
    rc, out, _ = run(["dlq", "stats", f])
    print(out)
    check(rc == 0 and "d.jsonl: 7 events, 1 malformed lines" in out, "the text form says the total")
    check("\nby type:\n         4  a.b\n         3  c.d\n" in out, "and a table per count, largest first")
    rc, _, err = run(["dlq", "stats", f, "--to", "x"])
    check(rc == 2 and "--to is an option of replay" in err, "replay's options are refused by stats")
    # A peer wrote the reason and the type: a terminal escape in them is shown, never obeyed.
    hostile = write(tmp, "h.jsonl", dlq_record(1, 1, type_="x\x1b]0;owned\x07",
                                               reason="HTTP 400 \x1b[2J\rcleared") + "\n")
    rc, out, _ = run(["dlq", "stats", hostile])
    print(out)
    check(rc == 0 and "\x1b" not in out and "\x07" not in out and "\r" not in out,
          "no control character of the file reaches the terminal")
    check("HTTP 400 \\x1b[2J\\rcleared" in out, "they are shown escaped, as in log lines")


class Receiver:
    """A webhook receiver: records the id of every event it is sent, answers 200 after `delay`."""

    def __init__(self, delay):
        import http.server
        import threading
        self.ids, self.lock, self.delay = [], threading.Lock(), delay
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                events = json.loads(body)
                with outer.lock:
                    outer.ids.extend(e["id"] for e in (events if isinstance(events, list) else [events]))
                time.sleep(outer.delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def received(self):
        with self.lock:
            return list(self.ids)

    def close(self):
        self.server.shutdown()


def replay_setup(tmp, receiver, count):
    f = write(tmp, "d.jsonl", "".join(dlq_record(i, 1) + "\n" for i in range(1, count + 1)))
    p = write(tmp, "p.yaml", f"""
version: 1
sources:
  gen: {{plugin: generator, options: {{count: 1, rate: 0}}}}
sinks:
  hook:
    plugin: webhook
    options: {{url: "{receiver.url}", body: cloudevents-batch, gzip: false, max_in_flight: 1}}
    batch: {{max_events: 1}}
routes:
  - {{from: gen, to: hook}}
""")
    return f, p


def case_dlq_replay_interrupted(tmp):
    r = Receiver(delay=0.2)
    try:
        f, p = replay_setup(tmp, r, 20)
        proc = subprocess.Popen([A.sluice, "dlq", "replay", f, "-p", p, "--to", "hook",
                                 "--progress-interval", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(poll(lambda: len(r.received()) >= 5 or proc.poll() is not None), "5 events arrive")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        print(err)
        got = r.received()
        check(proc.returncode == 130, f"SIGINT ends the replay with exit 130 (got {proc.returncode})")
        check(5 <= len(got) < 20, f"it stopped part way ({len(got)} of 20 sent)")
        check(f"interrupted (SIGINT): replayed {len(got)} events to hook" in err,
              "a summary says how many were delivered")
        left = lines_of(f)
        left_ids = [json.loads(l)["event"]["id"] for l in left]
        check(len(left) == 20 - len(got) and not set(left_ids) & set(got),
              f"what was delivered left the file, the rest stayed ({len(left)} lines left)")
        progress = [l for l in err.splitlines() if l.startswith("replay progress: ")]
        check(len(progress) >= len(got) - 1, f"a progress line per batch off a terminal ({len(progress)})")
        check(f"{len(got)} delivered" in progress[-1], "the last one counts what was delivered: " + progress[-1])
        rc, _, err = run(["dlq", "replay", f, "-p", p, "--to", "hook"])
        print(err)
        got = r.received()
        check(rc == 0, f"the rerun exits 0 (got {rc})")
        check(sorted(got) == sorted(f"e-{i}" for i in range(1, 21)),
              f"every event was delivered exactly once over both runs ({len(got)} deliveries)")
        check(lines_of(f) == [], "and the file is empty")
    finally:
        r.close()


def case_dlq_replay_keep(tmp):
    r = Receiver(delay=0)
    try:
        f, p = replay_setup(tmp, r, 3)
        before = lines_of(f)
        rc, _, err = run(["dlq", "replay", f, "-p", p, "--to", "hook", "--keep"])
        check(rc == 0 and len(r.received()) == 3, f"--keep replays everything ({err.strip()})")
        check(lines_of(f) == before, "and leaves the file as it was")
        os.chmod(tmp, 0o500)
        try:
            rc, _, err = run(["dlq", "replay", f, "-p", p, "--to", "hook"])
        finally:
            os.chmod(tmp, 0o700)
        if os.geteuid() != 0:
            check(rc == 2 and "cannot remove what is delivered" in err and "--keep" in err,
                  "a file that cannot be rewritten is refused before anything is sent: " + err.strip())
            check(len(r.received()) == 3, "nothing was sent")
    finally:
        r.close()


def case_dlq_usage(tmp):
    rc, _, err = run(["dlq", "list", "x"])
    check(rc == 2 and "unknown action 'list' (replay, stats)" in err and "--pipeline" not in err.split("\n")[0],
          "an unknown action is named, not a missing --pipeline: " + err.strip())
    rc, _, err = run(["dlq", "replay", "x", "--to", "y"])
    check(rc == 2 and "replay needs --pipeline PIPELINE" in err, "replay without --pipeline")
    rc, out, _ = run(["dlq", "--help"])
    check(rc == 0 and "sluice dlq replay FILE (-p|--pipeline) PIPELINE --to SINK" in out and
          "sluice dlq stats FILE" in out, "dlq --help shows the documented usage")
    check("--action" not in out and "--file" not in out, "and not the positional arguments as options")
    rc, out, _ = run(["run", "--help"])
    check(rc == 0 and "Usage: sluice run PIPELINE" in out and "--pipeline" not in out,
          "run --help shows PIPELINE as an argument, not a --pipeline option")
    rc, _, err = run(["run"])
    check(rc == 2 and "missing PIPELINE" in err, "run without PIPELINE says it is missing: " + err.strip())


def case_log_level_every_command(tmp):
    f = write(tmp, "d.jsonl", dlq_record(1, 1) + "\n")
    for args in (["run", "x.yaml"], ["validate", "x.yaml"], ["plugins"], ["dlq", "stats", f],
                 ["dlq", "replay", f, "-p", "x.yaml", "--to", "y"]):
        rc, _, err = run(args + ["--log-level", "loud"])
        check(rc == 2 and "unknown log level 'loud'" in err, f"{args[0]}: a bad --log-level exits 2 ({rc})")
        rc, _, err = run(args + ["--log-format", "xml"])
        check(rc == 2 and "unknown log format 'xml'" in err, f"{args[0]}: a bad --log-format exits 2 ({rc})")


def case_validate_no_secrets(tmp):
    for v in ("HOOK_URL", "HOOK_TOKEN"):
        os.environ.pop(v, None)
    p = write(tmp, "p.yaml", """
version: 1
sources:
  gen: {plugin: generator, options: {count: 1, rate: 0}}
sinks:
  hook:
    plugin: webhook
    options:
      url: "${HOOK_URL}"
      auth: {bearer: "${HOOK_TOKEN}", password: "${file:/nonexistent/sluice-secret}"}
routes:
  - {from: gen, to: hook}
""")
    rc, _, err = run(["validate", p])
    check(rc == 1 and "environment variable HOOK_URL is not set" in err, "without the flag: errors")
    rc, out, err = run(["validate", p, "--no-secrets"])
    print(out + err)
    check(rc == 0 and "valid (" in out, "--no-secrets: valid without the secrets")
    check(err.count(": warning: ") == 3 and "--no-secrets: this value is not checked" in err,
          "each unresolved reference is a warning")
    check("cannot read secret file '/nonexistent/sluice-secret'" in err, "naming why")
    bad = p.replace("p.yaml", "bad.yaml")
    with open(p) as src, open(bad, "w") as dst:
        dst.write(src.read().replace("gzip", "gzip").replace("auth:", "gzp: true\n      auth:"))
    rc, _, err = run(["validate", bad, "--no-secrets"])
    check(rc == 1 and "unknown key 'gzp' (did you mean 'gzip'?)" in err, "other errors still count")
    with open(p) as src, open(bad, "w") as dst:
        dst.write(src.read().split("routes:")[0])
    rc, _, err = run(["validate", bad, "--no-secrets"])
    check(rc == 1 and "missing required key 'routes'" in err,
          "also those of a mapping that holds an unresolved reference: " + err.strip())


def case_nested_suggestions(tmp):
    p = write(tmp, "p.yaml", """version: 1
sources:
  hmc:
    plugin: hmc_stomp
    options:
      host: hmc.example.com
      os_message_channels:
        - {cpc: CPC2, lapr: ZOS1}
      tls: {verfy: true}
sinks:
  out: {plugin: file, options: {path: out.jsonl, rotate: {max_byts: 10}}}
routes:
  - {from: hmc, to: out}
""")
    rc, _, err = run(["validate", p])
    print(err)
    check(rc == 1, "invalid")
    check(":8:23: error: sources.hmc.options.os_message_channels[0]: unknown key 'lapr' (did you mean 'lpar'?)" in err,
          "a misspelt key in a list item gets a suggestion, at the key")
    check("matches none of the forms" not in err, "instead of 'matches none of the forms'")
    check("tls: unknown key 'verfy' (did you mean 'verify'?)" in err, "in a nested mapping")
    check("rotate: unknown key 'max_byts' (did you mean 'max_bytes'?)" in err, "in a sink's nested mapping")


def case_yaml_error_wording(tmp):
    cases = [("version: 1\nsources: {a: {plugin: x}\n", "a '{' is not closed"),
             ("version: 1\nsources:\n\tgen: {}\n", "a tab in the indentation"),
             ("version: 1\nsources:\n  a: 1\n b: 2\n", "this line is not lined up with the keys above it"),
             ("version: 1\nlog: {level: @info}\n", "a value cannot start with this character")]
    for text, words in cases:
        p = write(tmp, "y.yaml", text)
        rc, _, err = run(["validate", p])
        print(err.strip())
        check(rc == 1 and "YAML syntax error: " + words in err and "(the parser says: " in err,
              f"plain words: {words}")


def case_plugins_nested_options(tmp):
    rc, out, _ = run(["plugins"])
    check(rc == 0, "plugins exits 0")
    for line in ("    tls.verify (boolean) default true", "    rotate.max_bytes (",
                 "    auth.bearer (string) secret", "    os_message_channels[].cpc (string) required"):
        check(line in out, "nested option listed: " + line.strip())
    i = out.index("    tls.verify (boolean)")
    check(out[i:].split("\n")[1].startswith("        ") and len(out[i:].split("\n")[1].strip()) > 0,
          "with its description")


def case_dlq_replay_progress_bar(tmp):
    """On a terminal the progress is a bar redrawn in place, ended by a newline."""
    import pty
    r = Receiver(delay=0)
    try:
        f, p = replay_setup(tmp, r, 5)
        master, slave = pty.openpty()
        proc = subprocess.Popen([A.sluice, "dlq", "replay", f, "-p", p, "--to", "hook"],
                                stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the replay closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
        os.close(master)
        err = b"".join(chunks).decode(errors="replace")
        print(repr(err))
        check(proc.returncode == 0, f"the replay exits 0 (got {proc.returncode})")
        first, full = err.find("\r\x1b[K["), err.find("] 100% 5/5 lines, 5 delivered, 0 failed")
        check(0 <= first < full, "a bar reaches 100%")
        check(err.count("\r\x1b[K[") >= 2 and "\n" not in err[first:full],
              "redrawn in place: no new line between the first bar and the last")
        check(err[full:].startswith("] 100% 5/5 lines, 5 delivered, 0 failed\r\n"),
              "the finished bar ends its line before the summary")
        check("replay progress:" not in err, "instead of progress lines")
    finally:
        r.close()


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

#!/usr/bin/env python3
"""`sluice run` speaks systemd's readiness protocol (Type=notify in packaging/sluice.service).

    sd_notify_test.py CASE --sluice PATH --test-plugins DIR

A unix datagram socket stands in for systemd: NOTIFY_SOCKET names it (a path, or an abstract
name starting with '@'), and the test reads what sluice sends. Every wait is bounded.
"""
import argparse
import os
import signal
import socket
import subprocess
import tempfile
import time

from checks import check, fail


def pipeline(tmp, sink_options="then: ok"):
    path = os.path.join(tmp, "p.yaml")
    with open(path, "w") as f:
        f.write(f"""version: 1
log: {{level: info, format: text}}
plugins: {{path: [{A.test_plugins}]}}
sources:
  src: {{plugin: counting, options: {{count: 5}}}}
sinks:
  out: {{plugin: scripted, options: {{{sink_options}}}}}
routes:
  - {{from: src, to: out}}
""")
    return path


class Notify:
    """The service manager's end: a datagram socket, bound to a path or an abstract name."""

    def __init__(self, tmp, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"sluice-notify-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(tmp, "notify.sock")
            self.sock.bind(self.env)

    def next(self, timeout=30.0):
        """The next message, or None when none came within timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            return None


def start(tmp, notify, p):
    err = open(os.path.join(tmp, "err.log"), "w")
    env = dict(os.environ, NOTIFY_SOCKET=notify.env)
    proc = subprocess.Popen([A.sluice, "run", p], stdout=subprocess.DEVNULL, stderr=err, env=env)
    return proc, os.path.join(tmp, "err.log")


def stderr_of(log):
    with open(log) as f:
        return f.read()


def ready_then_stopping(tmp, abstract):
    notify = Notify(tmp, abstract)
    proc, log = start(tmp, notify, pipeline(tmp))
    try:
        msg = notify.next()
        # What the log says at the moment READY=1 arrives: the runtime logs "started:" once every
        # sink and then every source started, before `run` sends READY=1.
        seen = stderr_of(log)
        check(msg == "READY=1", f"the first message is READY=1 (got {msg!r})")
        check("started: 1 source(s), 1 sink(s)" in seen, "READY=1 comes after the pipeline started")
        check(proc.poll() is None, "sluice is still running when it says READY=1")
        proc.send_signal(signal.SIGHUP)
        msg = notify.next()
        check(msg == "RELOADING=1", f"SIGHUP: RELOADING=1 (got {msg!r})")
        msg = notify.next()
        check(msg == "READY=1", f"then READY=1 once the reload is done (got {msg!r})")
        check("SIGHUP: reopening sink outputs" in stderr_of(log), "after the reopen")
        proc.send_signal(signal.SIGTERM)
        msg = notify.next()
        check(msg == "STOPPING=1", f"SIGTERM: STOPPING=1 (got {msg!r})")
        rc = proc.wait(timeout=60)
        check(rc == 0, f"and exit 0 (got {rc})")
        check(notify.next(timeout=0.5) is None, "nothing after STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        print(stderr_of(log)[-3000:])


def case_ready_path(tmp):
    ready_then_stopping(tmp, abstract=False)


def case_ready_abstract(tmp):
    ready_then_stopping(tmp, abstract=True)


def case_start_fails(tmp):
    # A pipeline that cannot start never says READY=1: systemd then reports the start failed.
    notify = Notify(tmp, abstract=False)
    proc, log = start(tmp, notify, pipeline(tmp, "fail_create: true"))
    rc = proc.wait(timeout=60)
    print(stderr_of(log))
    check(rc == 3, f"a sink whose create fails ends run with exit 3 (got {rc})")
    check(notify.next(timeout=0.5) is None, "and sluice sent no READY=1 (nothing at all)")


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--test-plugins", required=True)
    A = ap.parse_args()
    fn = globals().get("case_" + A.case)
    if not fn:
        fail("unknown case " + A.case)
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        fn(tmp)
    print("PASS")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What `--log-level debug` shows, what it never shows, and where relative paths point.

    logs_test.py CASE --bin DIR

Cases:
  debug_no_secrets   `sluice run --log-level debug` on an hmc_stomp source (the fake HMC, mfa: the
                     WS API session becomes the STOMP login) and a file sink: the debug lines of
                     the core and of hmc_stomp appear; the password and the session credential
                     appear nowhere in the output. It runs from another working directory, with
                     the file sink's path and the CA file relative to the pipeline file.
  relative_paths     `sluice validate` from another working directory reports a missing CA file
                     and a missing output folder at the pipeline file's folder, and accepts them
                     once they exist there.
Every wait is bounded.
"""
import argparse
import json
import os
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request

from checks import check, fail, lines_of, poll

PASSWORD = "hmcpassword"  # the fake HMC's built-in user hmcuser


def write_pipeline(folder, ready=None, ca="certs/ca.pem"):
    """A pipeline in `folder` whose CA file and output file are relative to it."""
    api_port = ready["api_port"] if ready else 1
    stomp_port = ready["stomp_port"] if ready else 1
    path = os.path.join(folder, "pipeline.yaml")
    with open(path, "w") as f:
        f.write(f"""version: 1
log: {{level: info, format: text}}
sources:
  hmc1:
    plugin: hmc_stomp
    options:
      host: 127.0.0.1
      api_port: {api_port}
      stomp_port: {stomp_port}
      userid: hmcuser
      password: ${{HMC_PASSWORD}}
      mfa: true
      topic_types: [object-notification, job-notification]
      os_message_channels:
        - {{cpc: CPC1, partition: LINUX01}}
        - {{cpc: CPC2, lpar: ZOS1}}
      tls: {{ca_file: {ca}}}
      heartbeat: {{send: 5s, receive: 5s}}
      reconnect: {{initial: 200ms, max: 2s}}
sinks:
  archive:
    plugin: file
    options: {{path: out/events.jsonl, format: json}}
    batch: {{max_delay: 10ms}}
routes:
  - {{from: hmc1, to: archive}}
""")
    return path


def env():
    return dict(os.environ, HMC_PASSWORD=PASSWORD)


def fake_sessions(ready, ca_file):
    ctx = ssl.create_default_context(cafile=ca_file)
    url = f"https://127.0.0.1:{ready['api_port']}/fake/sessions"
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        return json.load(r)["sessions"]


def debug_no_secrets(tmp):
    folder = os.path.join(tmp, "pipeline")  # the pipeline file's folder
    elsewhere = os.path.join(tmp, "elsewhere")  # the working directory
    for d in (os.path.join(folder, "certs"), os.path.join(folder, "out"), elsewhere):
        os.makedirs(d, mode=0o700)
    ca = os.path.join(folder, "certs", "ca.pem")
    ready_file = os.path.join(tmp, "hmc.ready")
    script = os.path.join(A.source_dir, "sdk", "fakes", "hmc", "examples", "demo-script.jsonl")
    procs = []
    try:
        hmc = subprocess.Popen(
            [os.path.join(A.bin, "sluice-fake-hmc"), "--api-port", "0", "--stomp-port", "0",
             "--ca-out", ca, "--ready-file", ready_file, "--script", script, "--loop"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "hmc.log"), "w"))
        procs.append(hmc)
        check(poll(lambda: os.path.exists(ready_file) and os.path.getsize(ready_file) > 0, 60),
              "the fake HMC listens")
        with open(ready_file) as f:
            ready = json.load(f)
        p = write_pipeline(folder, ready)
        out_path, err_path = os.path.join(tmp, "sluice.out"), os.path.join(tmp, "sluice.err")
        sluice = subprocess.Popen(
            [os.path.join(A.bin, "sluice"), "run", p, "--log-level", "debug"], cwd=elsewhere,
            env=env(), stdout=open(out_path, "w"), stderr=open(err_path, "w"))
        procs.append(sluice)
        events = os.path.join(folder, "out", "events.jsonl")
        poll(lambda: len(lines_of(events)) >= 3 or sluice.poll() is not None, 90)
        got = len(lines_of(events)) >= 3
        sluice.send_signal(signal.SIGTERM)
        rc = sluice.wait(timeout=60)
        with open(err_path) as f:
            err = f.read()
        with open(out_path) as f:
            out = f.read()
        if not got:
            print(err[-4000:])
        check(got, "events reach the file sink's path, relative to the pipeline file "
                   "(not the working directory)")
        check(rc == 0, f"sluice exits 0 on SIGTERM (got {rc})")
        check(not os.path.exists(os.path.join(elsewhere, "out")),
              "nothing is written relative to the working directory")

        expected = [
            # core: start and stop steps, routes, batch results
            ("[core] starting sink 'archive' (plugin file", "core: a sink's start"),
            ("[core] starting source 'hmc1' (plugin hmc_stomp)", "core: a source's start"),
            ("[core] route 'route-1': from hmc1 to archive, every event", "core: the route"),
            ("[core] stopping: sources first", "core: the stop steps"),
            ("[core] stopping: draining the sinks' queues", "core: the drain"),
            ("): answered ok; delivered", "core: a batch's result"),
            # hmc_stomp: WS API requests, logon, topics, STOMP frames in summary, subscriptions
            ("[hmc1] WS API: logging on to 127.0.0.1:", "hmc_stomp: the logon step"),
            ("[hmc1] WS API POST /api/sessions: 200 in ", "hmc_stomp: a WS API request"),
            ("[hmc1] WS API GET /api/cpcs", "hmc_stomp: the inventory request"),
            ("[hmc1] WS API: resolving 2 topic type(s) and 2 OS message channel(s)",
             "hmc_stomp: topic resolution"),
            ("[hmc1] STOMP: connecting to 127.0.0.1:", "hmc_stomp: the STOMP connect"),
            ("login the WS API session, passcode not shown)", "hmc_stomp: the CONNECT in summary"),
            ("[hmc1] STOMP: SUBSCRIBE destination /topic/", "hmc_stomp: a SUBSCRIBE frame"),
            (": subscribed to /topic/", "hmc_stomp: a RECEIPT frame"),
        ]
        for needle, what in expected:
            if needle not in err:
                print(err[-6000:])
            check(needle in err, f"the debug log shows {what} ({needle!r})")

        sessions = fake_sessions(ready, ca)  # the fake still runs
        check(len(sessions) >= 1, f"the fake HMC made {len(sessions)} WS API session(s)")
        secrets = [PASSWORD] + [s["session-credential"] for s in sessions]
        for secret in secrets:
            check(secret not in err and secret not in out,
                  f"a secret ({secret[:4]}...) appears nowhere in the output")
        for s in sessions:
            check(s["api-session"] not in err and s["api-session"] not in out,
                  "the WS API session id (the STOMP login) appears nowhere in the output")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def relative_paths(tmp):
    folder = os.path.join(tmp, "pipeline")
    elsewhere = os.path.join(tmp, "elsewhere")
    os.makedirs(folder, mode=0o700)
    os.makedirs(elsewhere, mode=0o700)
    p = write_pipeline(folder)
    sluice = os.path.join(A.bin, "sluice")
    r = subprocess.run([sluice, "validate", p], cwd=elsewhere, env=env(), capture_output=True,
                       text=True, timeout=60)
    missing_ca = os.path.join(folder, "certs", "ca.pem")
    check(r.returncode != 0, f"validate refuses a missing CA file (exit {r.returncode})")
    check(f"cannot read {missing_ca}" in r.stdout + r.stderr,
          "validate names the CA file at the pipeline file's folder:\n" + r.stdout + r.stderr)
    out_dir = os.path.join(folder, "out")
    check(out_dir in r.stdout + r.stderr,
          "validate names the output folder at the pipeline file's folder")

    # Once they are where the pipeline file says, the pipeline is valid from anywhere.
    os.makedirs(os.path.join(folder, "certs"), mode=0o700)
    os.makedirs(out_dir, mode=0o700)
    ready_file = os.path.join(tmp, "hmc.ready")
    hmc = subprocess.Popen(
        [os.path.join(A.bin, "sluice-fake-hmc"), "--api-port", "0", "--stomp-port", "0",
         "--ca-out", missing_ca, "--ready-file", ready_file],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        check(poll(lambda: os.path.exists(missing_ca) and os.path.getsize(missing_ca) > 0, 60),
              "the fake HMC wrote its CA file")
    finally:
        hmc.kill()
        hmc.wait(timeout=30)
    r = subprocess.run([sluice, "validate", p], cwd=elsewhere, env=env(), capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, "validate accepts the CA file and output folder next to the "
                             "pipeline file, from another working directory:\n" + r.stdout + r.stderr)


CASES = {"debug_no_secrets": debug_no_secrets, "relative_paths": relative_paths}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--bin", required=True)
    ap.add_argument("--source-dir", required=True)
    A = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-logs-") as t:
        os.chmod(t, 0o700)
        CASES[A.case](t)

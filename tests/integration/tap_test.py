#!/usr/bin/env python3
"""Integration tests of the live tap (GET /tap, `sluice tap`) and `sluice top` against a running
`sluice run` with generator sources, on loopback.

    tap_test.py CASE --bin DIR

DIR holds `sluice` and lib/sluice/plugins beside it (the build tree's bin/). The top case needs
tmux. Every wait is bounded; nothing asserts on time.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

from checks import check, fail, free_port, lines_of, poll, write


def http_json(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return json.loads(r.read().decode())
    except Exception:  # noqa: BLE001 - not up yet, or gone
        return None


def metric(port, family_labels):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            text = r.read().decode()
    except Exception:  # noqa: BLE001
        return None
    for line in text.splitlines():
        if line.startswith(family_labels + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


class Proc:
    """A process with its stdout and stderr lines collected by threads."""

    def __init__(self, argv, **kw):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, **kw)
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=self._read, args=(s, l), daemon=True)
                        for s, l in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self.threads:
            t.join(timeout=5)
        return self.proc.returncode

    def errors(self):
        return "".join(self.err)


def sluice_run(pipeline):
    p = Proc([os.path.join(A.bin, "sluice"), "run", pipeline])
    if not poll(lambda: any("started:" in l for l in p.err) or p.proc.poll() is not None, 60):
        p.stop()
        fail("sluice run never started\n" + p.errors())
    if p.proc.poll() is not None:
        fail(f"sluice run exited ({p.proc.returncode})\n" + p.errors())
    return p


def tap(pipeline, *args):
    return Proc([os.path.join(A.bin, "sluice"), "tap", pipeline] + list(args))


def two_sources(port, tmp, rate=50):
    return write(tmp, "p.yaml", f"""version: 1
admin: {{listen: "127.0.0.1:{port}"}}
sources:
  osm: {{plugin: generator, options: {{template: hmc-os-message, rate: {rate}}}}}
  ldm: {{plugin: generator, options: {{template: ldm-domain, rate: {rate}}}}}
sinks:
  hmc_out: {{plugin: file, options: {{path: {tmp}/hmc.jsonl, format: json}}}}
  ldm_out: {{plugin: file, options: {{path: {tmp}/ldm.jsonl, format: json}}}}
routes:
  - {{from: osm, to: hmc_out}}
  - {{from: ldm, to: ldm_out}}
""")


def recv_until(sock, data, marker=None):
    """data and what sock gives after it, until marker is in it or, without one, to the end."""
    while marker is None or marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def events_of(p):
    return [json.loads(l) for l in list(p.out) if l.strip()]


# ---- cases ------------------------------------------------------------------------------

def case_filters(tmp):
    port = free_port()
    pipeline = two_sources(port, tmp)
    s = sluice_run(pipeline)
    try:
        for args, want in ((["--source", "osm"], lambda e: e["attributes"]["sluice-source"] == "osm"),
                           (["--sink", "ldm_out"], lambda e: e["attributes"]["sluice-source"] == "ldm"),
                           (["--type", "hmc.*"], lambda e: e["type"].startswith("hmc.")),
                           (["--type", "ldm.domain.*", "--source", "osm"], None)):
            t = tap(pipeline, *args)
            if want is None:  # nothing matches: only the greeting comes
                check(poll(lambda: any("connected" in l for l in t.err), 30),
                      f"sluice tap {' '.join(args)} connects")
                # the other filters saw 10 events meanwhile; this one none
                other = tap(pipeline, "--source", "osm")
                poll(lambda: len(other.out) >= 10, 60)
                other.stop(signal.SIGINT)
                t.stop(signal.SIGINT)
                check(len(other.out) >= 10 and not t.out,
                      "a filter that matches nothing prints nothing")
                continue
            got = poll(lambda: len(t.out) >= 10 or t.proc.poll() is not None, 60)
            t.stop(signal.SIGINT)
            ev = events_of(t)
            check(got and len(ev) >= 10, f"sluice tap {' '.join(args)} prints events ({len(ev)})")
            check(all(want(e) for e in ev), f"every event printed matches {' '.join(args)}")
            check(all(set(e) >= {"id", "source", "type", "time", "attributes", "data"} for e in ev),
                  "in the JSON form of the file sink")
    finally:
        rc = s.stop()
        check(rc == 0, f"sluice run stops cleanly (exit {rc}):\n" + s.errors()[-6000:])


def case_rate_limit(tmp):
    port = free_port()
    pipeline = two_sources(port, tmp, rate=200)
    s = sluice_run(pipeline)
    try:
        t = tap(pipeline, "--rate", "5")
        check(poll(lambda: any("not shown" in l for l in t.err), 60),
              "the client is told what the rate limit dropped:\n" + t.errors())
        line = next(l for l in t.err if "not shown" in l)
        check(re.search(r"\d+ over the rate limit", line) is not None, "with the count: " + line.strip())
        dropped = metric(port, 'sluice_tap_dropped_events_total{reason="rate"}')
        check(dropped is not None and dropped > 0, f"and /metrics counts them ({dropped})")
        check(metric(port, "sluice_tap_clients") == 1, "/metrics shows one tap client")
        t.stop(signal.SIGINT)
        check(poll(lambda: metric(port, "sluice_tap_clients") == 0, 30),
              "the client is gone from /metrics once it disconnected")
        # the raw stream: the notice is a JSON line of its own
        with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
            c.sendall(b"GET /tap?rate=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            data = recv_until(c, b"", b'"tap":"dropped"')
        check(b'{"tap":"dropped","count":' in data, "GET /tap writes {\"tap\":\"dropped\",\"count\":N}")
        check(b"Transfer-Encoding: chunked" in data, "as a chunked response")
        # too many clients, a bad rate
        clients = [tap(pipeline) for _ in range(4)]
        poll(lambda: metric(port, "sluice_tap_clients") == 4, 30)
        fifth = tap(pipeline)
        check(fifth.proc.wait(timeout=30) == 3 and "503" in fifth.errors(),
              "a fifth client is refused with 503: " + fifth.errors().strip())
        for c in clients:
            c.stop(signal.SIGINT)
        bad = tap(pipeline, "--rate", "0")
        check(bad.proc.wait(timeout=30) == 3 and "from 1 to 10000" in bad.errors(),
              "a bad rate is refused: " + bad.errors().strip())
    finally:
        rc = s.stop()
        check(rc == 0, f"sluice run stops cleanly (exit {rc}):\n" + s.errors()[-6000:])


def case_stalled_client(tmp):
    port = free_port()
    total = 60000
    out_file = os.path.join(tmp, "out.jsonl")
    pipeline = write(tmp, "p.yaml", f"""version: 1
admin: {{listen: "127.0.0.1:{port}"}}
sources:
  gen: {{plugin: generator, options: {{count: {total}, rate: 0, template: hmc-os-message}}}}
sinks:
  out: {{plugin: file, options: {{path: {out_file}, format: json}}}}
routes:
  - {{from: gen, to: out}}
""")
    # Connected before any event: a client that never reads a byte, with a tiny receive buffer.
    s = Proc([os.path.join(A.bin, "sluice"), "run", pipeline])
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        check(poll(lambda: http_json(port, "/healthz") is not None, 60), "the admin server answers")
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(b"GET /tap?rate=10000 HTTP/1.1\r\nHost: x\r\n\r\n")

        def delivered():
            st = http_json(port, "/status")
            return st["sinks"][0]["delivered"] if st and st.get("sinks") else 0
        check(poll(lambda: delivered() >= total, 300),
              f"the pipeline delivers all {total} events while a tap client never reads "
              f"({delivered()})")
        check(len(lines_of(out_file)) == total, "every event is in the file")
        dropped = sum(metric(port, f'sluice_tap_dropped_events_total{{reason="{r}"}}') or 0
                      for r in ("rate", "slow_client"))
        check(dropped > 0, f"what the stalled client could not take was dropped and counted ({dropped})")
        # shutdown with the stalled client (and a reading one) connected
        reader = tap(pipeline)
        check(poll(lambda: any("connected" in l for l in reader.err), 30), "a second client connects")
        s.proc.send_signal(signal.SIGTERM)
        try:
            rc = s.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("sluice run did not stop with tap clients connected")
        check(rc == 0, f"sluice run stops (exit {rc}) with a stalled tap client connected")
        check(reader.proc.wait(timeout=30) == 0, "sluice tap ends with exit 0")
        check("the tap ended: sluice is stopping" in reader.errors(),
              "and says why: " + reader.errors().strip().splitlines()[-1])
    finally:
        stalled.close()
        s.stop()


def read_response(sock, timeout=30, close_wait=10):
    """The status code of one HTTP/1.1 response read from sock (its body skipped by
    Content-Length), and whether the server then closed the connection (within close_wait
    seconds); (None, True) when the connection closed before a status line."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return None, True
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    closed = False
    try:
        sock.settimeout(close_wait)
        closed = sock.recv(4096) == b""
    except socket.timeout:
        pass
    return status, closed


def endless_pipeline(tmp, port):
    """A generator as fast as it goes into the null sink: tap clients always have events."""
    return write(tmp, "p.yaml", f"""version: 1
admin: {{listen: "127.0.0.1:{port}"}}
sources:
  gen: {{plugin: generator, options: {{count: 100000000, rate: 0, template: hmc-os-message}}}}
sinks:
  out: {{plugin: "null"}}
routes:
  - {{from: gen, to: out}}
""")


def stalled_tap_client(port):
    """A GET /tap client that never reads, with a tiny receive buffer: once its socket is full
    its stream cannot end, so stopping waits the grace (1 s) for it."""
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.connect(("127.0.0.1", port))
    c.sendall(b"GET /tap?rate=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
    return c


def slow_client_drops(port):
    return metric(port, 'sluice_tap_dropped_events_total{reason="slow_client"}') or 0


def tap_ended(reader):
    """The `sluice tap` client printed the stream's end line, or exited."""
    return any("the tap ended" in l for l in list(reader.err)) or reader.proc.poll() is not None


def is_json_object(line):
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def dechunk(body):
    """(data, complete) of a chunked body: complete when the last (zero-length) chunk came with
    nothing after it; data up to where it was cut otherwise."""
    data = b""
    while True:
        eol = body.find(b"\r\n")
        if eol < 0:
            return data, False
        size = int(body[:eol], 16)
        if len(body) < eol + 2 + size + 2:
            return data, False
        if size == 0:
            return data, body[eol + 2:] == b"\r\n"
        data += body[eol + 2:eol + 2 + size]
        body = body[eol + 2 + size + 2:]


def both_end_cleanly(s, reader, prefix=""):
    """After SIGTERM: the `sluice tap` client got the end line and exits 0, `sluice run` exits 0."""
    check(reader.proc.wait(timeout=60) == 0 and
          "the tap ended: sluice is stopping" in reader.errors(),
          f"{prefix}the reading tap client got its end line and exits 0 (exit "
          f"{reader.proc.returncode}, its stderr {reader.errors()!r})")
    try:
        rc = s.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail(f"{prefix}sluice run did not stop")
    check(rc == 0, f"{prefix}sluice run stops (exit {rc})")


def write_timed_out(s):
    """sluice run closed a stalled tap stream for its write timeout (io_timeout, 10 s): the
    stall outlived the setup of the attempt (a loaded machine), so the shutdown it was to take
    part in is not the one the attempt tests."""
    return any("read nothing for" in l for l in list(s.err))


def until_not_timed_out(once, prefix, attempts=3):
    """Runs once(prefix + "attempt N: ") until it returns True (it returns False when sluice
    run's write timeout closed a stalled stream before the shutdown it was set up for: see
    write_timed_out); fails after `attempts` such attempts."""
    for attempt in range(1, attempts + 1):
        if once(f"{prefix}attempt {attempt}: "):
            return
    fail(f"{prefix}in each of {attempts} attempts the write timeout closed a stalled stream "
         f"before the shutdown")


def case_keepalive_after_stop(tmp):
    """A request on a connection kept alive from before SIGTERM, sent while a stalled tap stream
    holds the shutdown in its grace: 503 and the connection closed by the server. An attempt
    whose stalled stream the write timeout closed first is made again."""
    until_not_timed_out(lambda prefix: keepalive_after_stop_once(tmp, prefix), "")


def keepalive_after_stop_once(tmp, prefix):
    port = free_port()
    pipeline = endless_pipeline(tmp, port)
    s = Proc([os.path.join(A.bin, "sluice"), "run", pipeline])
    stalled = None
    reader = None
    kept = socket.socket()
    try:
        check(poll(lambda: http_json(port, "/healthz") is not None, 60),
              f"{prefix}the admin server answers")
        # The admin server still runs while stopping waits for the stalled stream. (Should the
        # setup below outlast the server's 10 s write timeout, which closes that stream, the
        # attempt is made again.)
        stalled = stalled_tap_client(port)
        # Under a sanitizer on a loaded machine the queue may fill more slowly than the write
        # timeout closes the stalled stream (then no drop ever comes): that attempt is made again.
        check(poll(lambda: slow_client_drops(port) > 0 or write_timed_out(s), 120),
              f"{prefix}the stalled client's stream is stuck (slow_client drops)")
        if write_timed_out(s):
            return False
        reader = tap(pipeline)
        check(poll(lambda: any("connected" in l for l in reader.err), 30),
              f"{prefix}a tap client reads")
        # A connection kept alive from before the shutdown; made last, because the server
        # closes a keep-alive connection idle for its io_timeout (10 s).
        kept.connect(("127.0.0.1", port))
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, closed = read_response(kept, close_wait=0.2)
        check(status == 200 and not closed, f"{prefix}a keep-alive request is answered ({status})")
        if write_timed_out(s):
            return False
        s.proc.send_signal(signal.SIGTERM)
        # The reader's end line says shutdown began; the request goes at once (well within the
        # 1 s the stalled stream holds stopping): a GET /tap on the kept connection must not
        # start another stream (nobody would end it) but be refused.
        check(poll(lambda: tap_ended(reader), 60), f"{prefix}the reading tap client's stream ended")
        kept.sendall(b"GET /tap HTTP/1.1\r\nHost: x\r\n\r\n")
        status, closed = read_response(kept, close_wait=5)
        # The server closed it, not the process's exit: sluice run still runs (the stalled
        # stream holds it for up to 1 s, the drain follows).
        alive = s.proc.poll() is None
        if not (status == 503 and closed and alive) and write_timed_out(s):
            return False
        check(status == 503 and closed and alive,
              f"{prefix}after shutdown began, a kept-alive connection's request gets 503 and the "
              f"server closes the connection while sluice run still runs (status {status}, "
              f"closed {closed}, running {alive})")
        both_end_cleanly(s, reader, prefix)
        return True
    finally:
        if stalled:
            stalled.close()
        kept.close()
        if reader:
            reader.stop()
        s.stop()


def case_reader_behind_at_stop(tmp, rounds=3):
    """At shutdown, a GET /tap client that reads but is behind (a chunk only partly written to
    it) and a `sluice tap` client each get the rest, the end line and the last chunk, beside a
    client that never reads (which holds stopping for its grace). A round whose client behind
    had its stream closed by the write timeout before the shutdown is made again."""
    for n in range(1, rounds + 1):
        until_not_timed_out(lambda prefix: reader_behind_at_stop_once(tmp, prefix), f"round {n}, ")


def reader_behind_at_stop_once(tmp, prefix):
    port = free_port()
    pipeline = endless_pipeline(tmp, port)
    s = Proc([os.path.join(A.bin, "sluice"), "run", pipeline])
    behind = socket.socket()
    behind.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled = None
    reader = None
    try:
        check(poll(lambda: http_json(port, "/healthz") is not None, 60),
              f"{prefix}the admin server answers")
        behind.connect(("127.0.0.1", port))
        behind.sendall(b"GET /tap?rate=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
        behind.settimeout(30)
        got = recv_until(behind, b"", b'{"tap":"started"')
        check(b'{"tap":"started"' in got, f"{prefix}a client's stream started")
        # It reads nothing more for now: its stream has a write in progress that does not
        # move, and its queue overflows (the only client that can).
        # (As in keepalive_after_stop: a write timeout first means the attempt is made again.)
        check(poll(lambda: slow_client_drops(port) > 0 or write_timed_out(s), 120),
              f"{prefix}its stream waits for it (slow_client drops)")
        if write_timed_out(s):
            return False
        stalled = stalled_tap_client(port)
        reader = tap(pipeline)
        check(poll(lambda: any("connected" in l for l in reader.err), 30),
              f"{prefix}a `sluice tap` client reads")
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        # Shutdown began once sluice tap's stream ended (the old server closed the behind
        # client's stream then); only now does the behind client read again, with a larger
        # buffer. It has the 1 s grace to take the rest: it waits at most 0.3 s.
        poll(lambda: tap_ended(reader), 0.3)
        behind.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        got = recv_until(behind, got)
        head, _, body = got.partition(b"\r\n\r\n")
        data, complete = dechunk(body)
        lines = data.decode().splitlines()
        if not (complete and lines and
                lines[-1] == '{"tap":"end","reason":"sluice is stopping"}'):
            if write_timed_out(s):
                return False
            s.stop()
            fail(f"{prefix}the client that was behind got the rest, the end line and the "
                 f"last chunk (complete {complete}, {len(got)} bytes, ending with "
                 f"{got[-120:]!r}); sluice run said:\n{s.errors()[-3000:]}")
        check(True, f"{prefix}the client that was behind got the rest, the end line and "
                    f"the last chunk ({len(got)} bytes; all read {time.monotonic() - t0:.2f} s "
                    f"after SIGTERM)")
        check(all(is_json_object(l) for l in lines), f"{prefix}every line is whole")
        both_end_cleanly(s, reader, prefix)
        return True
    finally:
        behind.close()
        if stalled:
            stalled.close()
        if reader:
            reader.stop()
        s.stop()


def case_reload_keeps(tmp):
    port = free_port()
    pipeline = two_sources(port, tmp)
    s = sluice_run(pipeline)
    try:
        t = tap(pipeline, "--rate", "1000")
        check(poll(lambda: len(t.out) >= 5, 60), "the tap prints events")
        # a third source and its route: the reload applies the difference
        with open(pipeline) as f:
            text = f.read()
        text = text.replace("sinks:", "  extra: {plugin: generator, options: {template: minimal, rate: 50}}\nsinks:")
        text += "  - {from: extra, to: hmc_out}\n"
        write(tmp, "p.yaml", text)
        s.proc.send_signal(signal.SIGHUP)
        check(poll(lambda: any("reloaded:" in l for l in s.err), 60), "the reload is applied")
        check(poll(lambda: any('"generator.minimal"' in l for l in list(t.out)), 60),
              "the tap client stays connected and sees the new source's events")
        check(t.proc.poll() is None and not any("ended" in l for l in t.err),
              "it was not disconnected")
        t.stop(signal.SIGINT)
    finally:
        rc = s.stop()
        check(rc == 0, f"sluice run stops cleanly (exit {rc}):\n" + s.errors()[-6000:])


def case_top_tmux(tmp):
    if not shutil.which("tmux"):
        fail("tmux is not installed")
    port = free_port()
    pipeline = two_sources(port, tmp)
    s = sluice_run(pipeline)
    sock = f"sluice-top-test-{os.getpid()}"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    sluice = os.path.join(A.bin, "sluice")

    def screen():
        r = subprocess.run(tmux + ["capture-pane", "-p", "-t", "top"], capture_output=True,
                           text=True, timeout=30)
        return r.stdout

    def row(text, kind, name):
        for line in text.splitlines():
            f = line.split()
            if len(f) >= 6 and f[0] == kind and f[1] == name:
                return f
        return None
    try:
        subprocess.run(tmux + ["new-session", "-d", "-s", "top", "-x", "120", "-y", "30",
                               f"{sluice} top {pipeline}; echo TOP-EXIT=$?; sleep 60"],
                       check=True, timeout=30)
        check(poll(lambda: all(row(screen(), k, n) for k, n in
                               (("source", "osm"), ("source", "ldm"), ("sink", "hmc_out"),
                                ("sink", "ldm_out"))), 60),
              "sluice top shows a row per source and sink:\n" + screen())
        first = screen()
        check("EVENTS/S" in first and "QUEUE" in first and "DEADLET" in first, "with its columns")
        f = row(first, "source", "osm")
        check(f[2] == "generator" and f[3] == "up", f"plugin and state: {' '.join(f)}")
        total0 = row(first, "sink", "hmc_out")[5]
        check(poll(lambda: (row(screen(), "sink", "hmc_out") or [""] * 6)[5] != total0, 30),
              "the numbers change from one refresh to the next")
        check(poll(lambda: re.match(r"^\d+(\.\d)?$", row(screen(), "source", "osm")[4]) is not None, 30),
              "events/s is shown")
        subprocess.run(tmux + ["resize-window", "-t", "top", "-x", "70", "-y", "12"], timeout=30)
        check(poll(lambda: row(screen(), "sink", "ldm_out") is not None and
                   max(len(l) for l in screen().splitlines()) <= 70, 30),
              "after a resize to 70 columns the rows fit:\n" + screen())
        subprocess.run(tmux + ["send-keys", "-t", "top", "q"], timeout=30)
        check(poll(lambda: "TOP-EXIT=0" in screen(), 30), "q quits with exit 0:\n" + screen())
        check(row(screen(), "source", "osm") is None,
              "and the terminal is given back (the normal screen, not the table)")
        # Ctrl-C quits too; a top without a server says so and keeps trying
        subprocess.run(tmux + ["kill-session", "-t", "top"], timeout=30)
        s.stop()
        subprocess.run(tmux + ["new-session", "-d", "-s", "top", "-x", "120", "-y", "30",
                               f"{sluice} top {pipeline}; echo TOP-EXIT=$?; sleep 60"],
                       check=True, timeout=30)
        check(poll(lambda: "Connection refused" in screen(), 30),
              "without a running sluice, top says it cannot reach it:\n" + screen())
        subprocess.run(tmux + ["send-keys", "-t", "top", "C-c"], timeout=30)
        check(poll(lambda: "TOP-EXIT=0" in screen(), 30), "Ctrl-C quits:\n" + screen())
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, timeout=30)
        s.stop()


def case_cli_errors(tmp):
    sluice = os.path.join(A.bin, "sluice")
    no_admin = write(tmp, "plain.yaml", """version: 1
sources:
  gen: {plugin: generator}
sinks:
  out: {plugin: stdout}
routes:
  - {from: gen, to: out}
""")
    for cmd in ("tap", "top"):
        r = subprocess.run([sluice, cmd, no_admin], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if cmd == "top":  # not a terminal: said first
            check(r.returncode == 2 and "needs a terminal" in r.stderr, "top wants a terminal")
            continue
        check(r.returncode == 1 and "has no admin block" in r.stderr,
              f"sluice {cmd} on a pipeline without admin: exit 1, says so: {r.stderr.strip()}")
    port = free_port()
    pipeline = two_sources(port, tmp)
    r = subprocess.run([sluice, "tap", pipeline], capture_output=True, text=True, timeout=60)
    check(r.returncode == 3 and "Connection refused" in r.stderr and "is `sluice run" in r.stderr,
          "nothing listens: exit 3 and a clear message: " + r.stderr.strip())


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--bin", required=True)
    A = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-tap-") as d:
        CASES[A.case](d)
    print("PASS")

#!/usr/bin/env python3
"""Integration tests of the admin server (pipeline `admin:`): `sluice run` serving /metrics,
/healthz, /readyz and POST /reload on loopback.

    admin_test.py CASE --bin DIR

DIR holds `sluice`, the fakes and lib/sluice/plugins beside it (the build tree's bin/).
promtool and prometheus (Debian `prometheus`) must be on PATH. Every wait is bounded;
nothing asserts on time.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

from checks import check, fail, free_port, lines_of, poll, write

TOKEN = "adm1n-t0ken-never-logged"
LDM_PASSWORD = "ldm-pa55word-x"


def http(port, path, method="GET", token=None, timeout=30):
    """(status, body text, headers) of one request; status 0 when nothing answered."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=b"" if method == "POST" else None)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return 0, "", {}


class Sluice:
    """`sluice run PIPELINE` with its stderr collected."""

    def __init__(self, pipeline, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([os.path.join(A.bin, "sluice"), "run", pipeline],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=e)
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def log(self):
        return "".join(self.lines)

    def wait_logged(self, needle, timeout=60):
        if not poll(lambda: needle in self.log() or self.proc.poll() is not None, timeout):
            self.stop()
            fail("never logged: " + needle + "\n" + self.log())
        if self.proc.poll() is not None:
            fail(f"sluice exited ({self.proc.returncode}) before logging {needle}\n" + self.log())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=5)
        return self.proc.returncode


def gen_pipeline(port, out_file, extra_admin="", count=0, name="gen"):
    gen_options = f"{{count: {count}, rate: 0}}" if count else "{rate: 50}"
    return f"""version: 1
admin: {{listen: "127.0.0.1:{port}"{extra_admin}}}
sources:
  {name}: {{plugin: generator, options: {gen_options}}}
sinks:
  out:
    plugin: file
    options: {{path: {out_file}, format: json}}
    batch: {{max_events: 5, max_delay: 10ms}}
routes:
  - {{from: {name}, to: out}}
"""


def samples(text, family):
    """{labels text: value} of the samples of one family in an exposition page."""
    out = {}
    for line in text.splitlines():
        if line.startswith(family + "{") or line.startswith(family + " "):
            name_labels, value = line.rsplit(" ", 1)
            out[name_labels[len(family):]] = float(value)
    return out


# ---- cases ------------------------------------------------------------------------------

def case_metrics_promtool(tmp):
    port = free_port()
    out_file = os.path.join(tmp, "events.jsonl")
    s = Sluice(write(tmp, "p.yaml", gen_pipeline(port, out_file)))
    try:
        s.wait_logged("started:")
        check(poll(lambda: len(lines_of(out_file)) >= 20), "events are delivered")
        status, body, headers = http(port, "/metrics")
        check(status == 200, f"GET /metrics answers 200 (got {status})")
        check(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
              "in the text format 0.0.4: " + headers.get("Content-Type", ""))
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=60)
        print(p.stdout + p.stderr)
        check(p.returncode == 0 and not (p.stdout + p.stderr).strip(),
              "promtool check metrics finds no problem")
        emitted = samples(body, "sluice_source_emitted_total")
        check(emitted.get('{source="gen",plugin="generator"}', 0) >= 20,
              f"the source's emitted counter: {emitted}")
        up = samples(body, "sluice_source_state")
        check(up.get('{source="gen",plugin="generator",state="up"}') == 1.0 and
              up.get('{source="gen",plugin="generator",state="down"}') == 0.0,
              f"state as one gauge per state: {up}")
        delivered = samples(body, "sluice_sink_delivered_total")
        check(delivered.get('{sink="out",plugin="file"}', 0) >= 20,
              f"the sink's delivered counter: {delivered}")
        count = samples(body, "sluice_sink_batch_latency_seconds_count")
        inf = samples(body, "sluice_sink_batch_latency_seconds_bucket")
        check(count.get('{sink="out",plugin="file"}', 0) >= 4 and
              inf.get('{sink="out",plugin="file",le="+Inf"}') == count.get('{sink="out",plugin="file"}'),
              "the batch latency histogram counts the batches (+Inf bucket == _count)")
        check(samples(body, "sluice_plugin_generated_total").get('{source="gen",plugin="generator"}', 0) >= 20,
              "a plugin's count_metric counter under its name (generator: generated)")
        check(samples(body, "sluice_build_info") and samples(body, "sluice_process_open_fds")[""] > 0
              and samples(body, "sluice_process_resident_memory_bytes")[""] > 0,
              "build info, open fds and RSS")
        status, body, _ = http(port, "/healthz")
        check(status == 200 and json.loads(body)["status"] == "ok", f"/healthz: {status} {body}")
        status, _, headers = http(port, "/metrics", method="POST")
        check(status == 405 and headers.get("Allow") == "GET", f"POST /metrics: 405 (got {status})")
        status, _, _ = http(port, "/nowhere")
        check(status == 404, f"an unknown path: 404 (got {status})")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
            answer = c.recv(4096).decode(errors="replace")
        check(answer.startswith("HTTP/1.1 431 "), "a header over 8 KiB: 431: " + answer.split("\r\n")[0])
        status, _, _ = http(port, "/healthz")
        check(status == 200, "and the server goes on serving")
    finally:
        rc = s.stop()
        print(s.log()[-3000:])
    check(rc == 0, f"SIGTERM still ends sluice with exit 0 (got {rc})")
    check("stopped; accounting:" in s.log(), "after the drain and the accounting")


def case_prometheus_scrape(tmp):
    port, prom_port = free_port(), free_port()
    out_file = os.path.join(tmp, "events.jsonl")
    s = Sluice(write(tmp, "p.yaml", gen_pipeline(port, out_file, count=37)))
    prom = None
    try:
        s.wait_logged("started:")
        check(poll(lambda: len(lines_of(out_file)) == 37), "the generator's 37 events are delivered")
        config = write(tmp, "prometheus.yml", f"""global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: sluice
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
""")
        prom_log = open(os.path.join(tmp, "prometheus.log"), "w")
        prom = subprocess.Popen(["prometheus", "--config.file=" + config,
                                 "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                                 "--web.listen-address=127.0.0.1:" + str(prom_port)],
                                stdout=prom_log, stderr=prom_log, cwd=tmp)
        check(poll(lambda: http(prom_port, "/-/ready")[0] == 200 or prom.poll() is not None, 90)
              and prom.poll() is None, "Prometheus is ready")
        query = "/api/v1/query?query=" + urllib.request.quote('sluice_sink_delivered_total{sink="out"}')
        seen = {}

        def scraped():
            status, body, _ = http(prom_port, query)
            if status != 200:
                return False
            result = json.loads(body)["data"]["result"]
            seen["result"] = result
            return bool(result) and result[0]["value"][1] == "37"
        ok = poll(scraped, 90)
        print("query result:", seen.get("result"))
        check(ok, "Prometheus scraped sluice: sluice_sink_delivered_total{sink=\"out\"} is 37, "
                  "the events in the file")
        status, body, _ = http(prom_port, "/api/v1/targets")
        health = [t["health"] for t in json.loads(body)["data"]["activeTargets"]]
        check(health == ["up"], f"the target is up in Prometheus (got {health})")
    finally:
        if prom is not None and prom.poll() is None:
            prom.terminate()
            try:
                prom.wait(timeout=30)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        rc = s.stop()
        print(s.log()[-2000:])
        try:
            print(open(os.path.join(tmp, "prometheus.log")).read()[-2000:])
        except FileNotFoundError:
            pass
    check(rc == 0, f"sluice exits 0 (got {rc})")


def case_readyz(tmp):
    port, ldm_port = free_port(), free_port()
    out_file = os.path.join(tmp, "events.jsonl")
    # ldm_xml against a port where nothing listens yet: connecting, then up once the fake starts.
    p = write(tmp, "p.yaml", f"""version: 1
admin: {{listen: "127.0.0.1:{port}"}}
sources:
  ldoms:
    plugin: ldm_xml
    options:
      host: 127.0.0.1
      port: {ldm_port}
      user: admin
      password: ${{LDM_PASSWORD}}
      tls: {{verify: false}}
      reconnect: {{initial: 100ms, max: 500ms}}
sinks:
  out: {{plugin: file, options: {{path: {out_file}, format: json}}}}
routes:
  - {{from: ldoms, to: out}}
""")
    s = Sluice(p, env={"LDM_PASSWORD": LDM_PASSWORD})
    ldmd = None
    try:
        s.wait_logged("started:")
        status, body, _ = http(port, "/readyz")
        print(status, body)
        check(status == 503, f"/readyz: 503 while the source cannot connect (got {status})")
        doc = json.loads(body)
        names = [(n["kind"], n["name"]) for n in doc["not_ready"]]
        check(doc["ready"] is False and names == [("source", "ldoms")],
              f"the body names the source that is not up: {names}")
        entry = doc["not_ready"][0]
        check(entry["state"] in ("connecting", "down") and entry["plugin"] == "ldm_xml" and
              entry["detail"], f"with its state and the plugin's detail: {entry}")
        status, body, _ = http(port, "/healthz")
        check(status == 200, "/healthz: 200 all the same (the process serves)")
        ldmd = subprocess.Popen([os.path.join(A.bin, "sluice-fake-ldmd"), "--port", str(ldm_port),
                                 "--password", LDM_PASSWORD,
                                 "--ready-file", os.path.join(tmp, "ldmd.ready")],
                                stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(tmp, "ldmd.log"), "w"))
        check(poll(lambda: os.path.exists(os.path.join(tmp, "ldmd.ready")), 60), "the fake ldmd listens")
        answers = []

        def ready():
            answers.append(http(port, "/readyz"))
            return answers[-1][0] == 200
        check(poll(ready, 60), f"/readyz: 200 once the source is up (last: {answers[-1:]})")
        check(json.loads(answers[-1][1]) == {"ready": True, "not_ready": []}, "with nothing named")
    finally:
        if ldmd is not None and ldmd.poll() is None:
            ldmd.terminate()
            ldmd.wait(timeout=30)
        rc = s.stop()
        print(s.log()[-3000:])
    check(LDM_PASSWORD not in s.log(), "the password is never logged")
    check(rc == 0, f"sluice exits 0 (got {rc})")


def case_auth(tmp):
    # Not loopback: validate refuses it without allow_remote, and allow_remote without a token.
    out_file = os.path.join(tmp, "events.jsonl")
    sluice = os.path.join(A.bin, "sluice")
    p = write(tmp, "remote.yaml", gen_pipeline(9464, out_file).replace("127.0.0.1:9464", "0.0.0.0:9464"))
    r = subprocess.run([sluice, "validate", p], capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "admin.listen: '0.0.0.0:9464' is not a loopback address" in r.stderr,
          "validate refuses a non-loopback address without allow_remote: " + r.stderr.strip())
    p = write(tmp, "remote.yaml", gen_pipeline(9464, out_file, ", allow_remote: true")
              .replace("127.0.0.1:9464", "[::]:9464"))
    r = subprocess.run([sluice, "validate", p], capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "allow_remote: true needs a token" in r.stderr,
          "and allow_remote without a token: " + r.stderr.strip())
    p = write(tmp, "remote.yaml", gen_pipeline(9464, out_file, ", allow_remote: true, token: \"${ADMIN_TOKEN}\"")
              .replace("127.0.0.1:9464", "[::]:9464"))
    r = subprocess.run([sluice, "validate", p], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, ADMIN_TOKEN=TOKEN))
    check(r.returncode == 0, "allow_remote with a token from ${ADMIN_TOKEN} validates: " + r.stderr)

    # Loopback with a token: every path wants it.
    port = free_port()
    s = Sluice(write(tmp, "p.yaml", gen_pipeline(port, out_file, ', token: "${ADMIN_TOKEN}"')),
               env={"ADMIN_TOKEN": TOKEN})
    try:
        s.wait_logged("started:")
        for path in ["/metrics", "/healthz", "/readyz"]:
            status, _, headers = http(port, path)
            check(status == 401 and headers.get("WWW-Authenticate") == "Bearer",
                  f"{path} without the bearer token: 401 (got {status})")
            status, _, _ = http(port, path, token=TOKEN[:-1] + "X")
            check(status == 401, f"{path} with a wrong token: 401 (got {status})")
        status, _, _ = http(port, "/reload", method="POST")
        check(status == 401, f"POST /reload without it: 401 (got {status})")
        status, body, _ = http(port, "/metrics", token=TOKEN)
        check(status == 200 and "sluice_source_emitted_total" in body, "with it: 200")
        # The port is taken now: a second sluice on it does not start, and says why.
        r = subprocess.run([sluice, "run", os.path.join(tmp, "p.yaml")], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, ADMIN_TOKEN=TOKEN))
        check(r.returncode == 3 and f"cannot listen on 127.0.0.1:{port}" in r.stderr and
              "started:" not in r.stderr,
              "a port in use is a start error (exit 3), before the pipeline starts: " + r.stderr.strip())
    finally:
        rc = s.stop()
        print(s.log()[-2000:])
    check(TOKEN not in s.log(), "the token is never logged")
    check(rc == 0, f"sluice exits 0 (got {rc})")


def case_reload(tmp):
    port = free_port()
    old_file, new_file = os.path.join(tmp, "old.jsonl"), os.path.join(tmp, "new.jsonl")
    p = write(tmp, "p.yaml", gen_pipeline(port, old_file))
    s = Sluice(p)
    try:
        s.wait_logged("started:")
        status, body, _ = http(port, "/reload", method="POST")
        check(status == 200 and json.loads(body)["result"] == "unchanged",
              f"POST /reload on an unchanged file: 200 unchanged ({status} {body})")
        status, _, headers = http(port, "/reload")
        check(status == 405 and headers.get("Allow") == "POST", f"GET /reload: 405 (got {status})")

        write(tmp, "p.yaml", gen_pipeline(port, new_file, name="gen2"))
        status, body, _ = http(port, "/reload", method="POST")
        doc = json.loads(body)
        check(status == 200 and doc["result"] == "applied" and
              doc["message"].startswith("reloaded: 1 source(s), 1 sink(s), 1 route(s); "
                                        "sources kept: -, started: gen2, stopped: gen;"),
              f"a changed valid file: 200 applied ({status} {body})")
        check(poll(lambda: len(lines_of(new_file)) >= 5), "the new pipeline delivers")
        status, body, _ = http(port, "/metrics")
        check('sluice_source_emitted_total{source="gen2"' in body and 'source="gen"' not in body,
              "the server, still up across the reload, reads the new pipeline")

        write(tmp, "p.yaml", gen_pipeline(port, new_file, name="gen2").replace("plugin: file", "plugin: nope"))
        status, body, _ = http(port, "/reload", method="POST")
        doc = json.loads(body)
        check(status == 409 and doc["result"] == "refused" and "reload refused" in doc["message"],
              f"an invalid file: 409 refused ({status} {body})")

        # Many at once, with SIGHUPs among them: every request gets an answer, none is lost.
        write(tmp, "p.yaml", gen_pipeline(port, old_file))
        answers = []

        def post():
            answers.append(http(port, "/reload", method="POST", timeout=90))
        threads = [threading.Thread(target=post) for _ in range(6)]
        for i, t in enumerate(threads):
            t.start()
            if i % 2 == 0:
                s.proc.send_signal(signal.SIGHUP)
        for t in threads:
            t.join(timeout=120)
        results = sorted(json.loads(b)["result"] for st, b, _ in answers if st == 200)
        print(answers)
        check(len(answers) == 6 and len(results) == 6, f"six concurrent POSTs, six 200 answers: {answers}")
        check(set(results) <= {"applied", "unchanged"},
              f"each is the outcome of the reload that took it: applied or unchanged ({results})")
        check(s.log().count("reloaded:") == 2,
              "the change was applied once (by a SIGHUP or a POST), the rest found it unchanged")
        status, body, _ = http(port, "/metrics")
        check('sluice_source_emitted_total{source="gen"' in body, "the pipeline of the file runs")
        check(s.proc.poll() is None, "sluice still runs")
    finally:
        rc = s.stop()
        print(s.log()[-4000:])
    check(rc == 0, f"sluice exits 0 (got {rc})")


CASES = {name[len("case_"):] for name in globals() if name.startswith("case_")}


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--bin", required=True)
    A = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        globals()["case_" + A.case](tmp)


if __name__ == "__main__":
    main()

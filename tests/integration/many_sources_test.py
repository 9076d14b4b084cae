#!/usr/bin/env python3
"""Threads do not grow with sources: one `sluice run` daemon with many hmc_stomp sources (against
one fake HMC) and many ldm_xml sources (against one fake ldmd), all connected, runs on at most
2 x cores + 16 threads, and (in a build without sanitizers) an idle RSS of at most --max-rss-mb.

    many_sources_test.py --bin DIR [--hmc N] [--ldm N] [--max-rss-mb MB]

Counts /proc/PID/task once every source has reported `state: up`: a count, not a timing.
Every wait is bounded.
"""
import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time

from examples_test import check, fail, poll  # the same checks as the other integration tests


def read_json(path):
    import json
    with open(path) as f:
        return json.load(f)


def pipeline(hmc, ldm, hmc_ports, hmc_ca, ldm_port, ldm_ca):
    lines = ["version: 1", "log: {level: info, format: text}", "sources:"]
    for i in range(hmc):
        lines += [f"  hmc{i}:", "    plugin: hmc_stomp", "    options:",
                  "      host: 127.0.0.1",
                  f"      stomp_port: {hmc_ports['stomp_port']}",
                  "      userid: hmcuser", "      password: hmcpassword",
                  "      topics: [sluice.many]",
                  f"      tls: {{ca_file: {hmc_ca}}}",
                  "      heartbeat: {send: 30s, receive: 30s}",
                  "      reconnect: {initial: 1s, max: 30s}"]
    for i in range(ldm):
        lines += [f"  ldm{i}:", "    plugin: ldm_xml", "    options:",
                  "      host: 127.0.0.1", f"      port: {ldm_port}",
                  "      user: admin", "      password: secret",
                  f"      tls: {{ca_file: {ldm_ca}}}", "      events: [all]",
                  "      reconnect: {initial: 1s, max: 30s}"]
    lines += ["sinks:", "  discard:", "    plugin: \"null\"", "routes:",
              "  - name: all", "    from: [" + ", ".join(
                  [f"hmc{i}" for i in range(hmc)] + [f"ldm{i}" for i in range(ldm)]) + "]",
              "    to: discard"]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--hmc", type=int, default=100)
    p.add_argument("--ldm", type=int, default=100)
    p.add_argument("--max-rss-mb", type=int, default=0, help="0: report RSS, do not check it")
    a = p.parse_args()
    cores = os.cpu_count() or 1
    limit = 2 * cores + 16
    procs = []
    with tempfile.TemporaryDirectory(prefix="sluice-many-") as work:
        try:
            # The ldmd script: one event, then the stream stays open (idle sources).
            script = os.path.join(work, "ldmd.jsonl")
            with open(script, "w") as f:
                f.write('{"event": "start-domain", "domain": "ldg1"}\n')
            scenario = os.path.join(work, "hmc-scenario.json")
            with open(scenario, "w") as f:
                f.write('{"topics": ["sluice.many"]}\n')
            hmc = subprocess.Popen(
                [os.path.join(a.bin, "sluice-fake-hmc"), "--api-port", "0", "--stomp-port", "0",
                 "--scenario", scenario,
                 "--ca-out", os.path.join(work, "hmc-ca.pem"), "-q",
                 "--ready-file", os.path.join(work, "hmc.ready")])
            procs.append(hmc)
            ldmd = subprocess.Popen(
                [os.path.join(a.bin, "sluice-fake-ldmd"), "--port", "0", "--script", script,
                 "--ca-out", os.path.join(work, "ldmd-ca.pem"),
                 "--ready-file", os.path.join(work, "ldmd.ready")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(ldmd)
            check(poll(lambda: os.path.exists(os.path.join(work, "hmc.ready")) and
                       os.path.exists(os.path.join(work, "ldmd.ready")), 60), "both fakes listen")
            hmc_ports = read_json(os.path.join(work, "hmc.ready"))
            with open(os.path.join(work, "ldmd.ready")) as f:
                ldm_port = int(f.read().strip())
            path = os.path.join(work, "many.yaml")
            with open(path, "w") as f:
                f.write(pipeline(a.hmc, a.ldm, hmc_ports, os.path.join(work, "hmc-ca.pem"),
                                 ldm_port, os.path.join(work, "ldmd-ca.pem")))
            log_path = os.path.join(work, "sluice.log")
            log = open(log_path, "w")
            sluice = subprocess.Popen([os.path.join(a.bin, "sluice"), "run", path],
                                      stdout=subprocess.DEVNULL, stderr=log)
            procs.append(sluice)
            want = a.hmc + a.ldm

            def up():
                with open(log_path) as f:
                    names = set()
                    for line in f:
                        if "state: up" in line:
                            for word in line.replace("[", " ").replace("]", " ").split():
                                if (word.startswith("hmc") or word.startswith("ldm")) and \
                                        word.rstrip(":").lstrip("hmcld").isdigit():
                                    names.add(word.rstrip(":"))
                    return len(names)

            ok = poll(lambda: up() >= want or sluice.poll() is not None, 300)
            if not ok or sluice.poll() is not None:
                with open(log_path) as f:
                    print("".join(f.readlines()[-40:]))
            check(sluice.poll() is None, "sluice runs")
            check(up() >= want, f"all {want} sources are up ({up()} reported state up)")
            time.sleep(1)  # idle: nothing but heart-beats
            tasks = os.listdir(f"/proc/{sluice.pid}/task")
            threads = len(tasks)
            # Named threads (top -H, ps -L): which stage each one is. Two plugin modules, each
            # with an io pool and emitters of its own, and one dispatcher for the one sink.
            names = collections.Counter()
            for t in tasks:
                try:
                    with open(f"/proc/{sluice.pid}/task/{t}/comm") as f:
                        names[f.read().strip()] += 1
                except FileNotFoundError:  # a thread that just ended
                    pass
            print("threads by name: " + ", ".join(f"{n} {c}" for n, c in sorted(names.items())))
            check(1 <= names["sluice-io"] <= 2 * cores,
                  f"{names['sluice-io']} io threads (sluice-io): 1 to 2 x {cores} cores")
            check(names["sluice-emit"] >= 1, f"{names['sluice-emit']} emitter threads")
            check(names["sink discard"] == 1, "one dispatcher for the sink: 'sink discard'")
            rss_kb = 0
            with open(f"/proc/{sluice.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss_kb = int(line.split()[1])
            print(f"figures: {a.hmc} hmc_stomp + {a.ldm} ldm_xml sources: {threads} threads "
                  f"(limit 2 x {cores} cores + 16 = {limit}), RSS {rss_kb // 1024} MiB")
            check(threads <= limit, f"{threads} threads <= {limit}")
            if a.max_rss_mb:
                check(rss_kb <= a.max_rss_mb * 1024,
                      f"idle RSS {rss_kb // 1024} MiB <= {a.max_rss_mb} MiB")
            sluice.send_signal(signal.SIGTERM)
            try:
                sluice.wait(timeout=60)
            except subprocess.TimeoutExpired:
                fail("sluice did not stop within 60 s of SIGTERM")
            check(sluice.returncode == 0, f"sluice stopped cleanly (exit {sluice.returncode})")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    print("PASS")


if __name__ == "__main__":
    main()

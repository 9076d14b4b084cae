#!/usr/bin/env python3
"""The shipped pipeline files work: every examples/*.yaml validates, and the demo pipeline, run
against the fake HMC and the fake ldmd exactly as scripts/demo.sh runs it, delivers what the
fakes send — including the gap, parse-error and reconnect events its script provokes.

    examples_test.py CASE --bin DIR --source-dir DIR

Every wait is bounded; nothing asserts on time.
"""
import argparse
import collections
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from checks import check, fail, poll

# The secrets the example pipelines reference, with the values the fakes expect.
ENV = {"HMC_PASSWORD": "hmcpassword", "LDM_PASSWORD": "ldm-demo-pw",
       "WEBHOOK_SECRET": "demo-signing-secret", "WEBHOOK_TOKEN": "demo-token",
       "SPLUNK_HEC_TOKEN": "demo-hec-token", "ES_PASSWORD": "demo-es-password"}


def env():
    e = dict(os.environ)
    e.update(ENV)
    return e


def write_ca(path):
    """A PEM CA certificate at path, as a fake's --ca-out writes one."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=sluice-test-ca", "-days",
                    "2", "-keyout", path + ".key", "-out", path], check=True,
                   capture_output=True, timeout=60)


# The CA files the example pipelines name (relative to the working directory), written by the
# fakes' --ca-out before `sluice run`. validate checks that they can be read and used (the
# plugins' check_options), as run does, so they must exist.
EXAMPLE_CA_FILES = ["out/fake-hmc-ca.pem", "out/fake-ldmd-ca.pem", "out/demo/fake-hmc-ca.pem",
                    "out/demo/fake-ldmd-ca.pem"]


def case_examples_validate(work):
    files = sorted(glob.glob(os.path.join(A.source_dir, "examples", "*.yaml")))
    check(len(files) >= 4, f"examples/ holds the pipelines ({len(files)} found)")
    # Paths in the examples are relative to the repository root. Validate in a stand-in root:
    # a copy of examples/, and out/ as their comments say to prepare it (the file sinks write
    # under out/, which the user creates first; the fakes' --ca-out writes the CA files there),
    # so nothing is written to the source tree.
    root = os.path.join(work, "root")
    shutil.copytree(os.path.join(A.source_dir, "examples"), os.path.join(root, "examples"))
    for ca in EXAMPLE_CA_FILES:
        write_ca(os.path.join(root, ca))
    for f in files:
        copy = os.path.join(root, "examples", os.path.basename(f))
        p = subprocess.run([os.path.join(A.bin, "sluice"), "validate", copy], capture_output=True,
                           text=True, timeout=60, env=env(), cwd=root)
        print(p.stdout + p.stderr)
        check(p.returncode == 0, f"sluice validate {os.path.relpath(f, A.source_dir)} exits 0")
        leaked = [name for name, value in ENV.items() if value in p.stdout + p.stderr]
        check(not leaked, f"no secret value in its output (leaked: {leaked})")


def case_readme_pipeline(work):
    with open(os.path.join(A.source_dir, "README.md")) as f:
        text = f.read()
    start = text.index("```yaml\n") + len("```yaml\n")
    path = os.path.join(work, "readme.yaml")
    with open(path, "w") as f:
        f.write(text[start:text.index("```", start)])
    e = env()
    e["HMC_USER"] = "sluice"
    p = subprocess.run([os.path.join(A.bin, "sluice"), "validate", path], capture_output=True,
                       text=True, timeout=60, env=e)
    print(p.stdout + p.stderr)
    # It names the files of a deployed machine (/var/log/sluice/, /etc/sluice/*.pem), which
    # plugins check when they can (plugin API 1.1 check_options): those may be missing here,
    # nothing else may be wrong.
    errors = [l for l in p.stderr.splitlines() if ": error: " in l]
    elsewhere = [l for l in errors
                 if not ("/var/log/sluice' does not exist" in l or
                         ("/etc/sluice/" in l and "No such file or directory" in l))]
    check(p.returncode == 0 or (errors and not elsewhere),
          f"the pipeline shown in README.md validates but for the deployed machine's files "
          f"(other errors: {elsewhere})")


# Marks a ```yaml block in README.md or docs/*.md that is not a whole pipeline; it goes on the
# line before the fence (blank lines between are allowed): <!-- fragment: why -->
FRAGMENT_MARK = "<!-- fragment"


def yaml_blocks(path):
    """(line number of the fence, marked as fragment, text) for each ```yaml block of a file."""
    with open(path) as f:
        lines = f.read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```yaml":
            before = [l for l in lines[:i] if l.strip()]
            fragment = bool(before) and before[-1].strip().startswith(FRAGMENT_MARK)
            end = i + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            blocks.append((i + 1, fragment, "\n".join(lines[i + 1:end]) + "\n"))
            i = end
        i += 1
    return blocks


def case_doc_pipelines(work):
    """Every pipeline shown in README.md and docs/*.md validates (secrets not needed: the
    documents use ${...} references), but for the files of a deployed machine they name
    (/etc/sluice/*.pem, /var/log/sluice/). A block that is only part of a pipeline must say so
    with <!-- fragment: ... --> before its fence, or this test fails on it."""
    docs = [os.path.join(A.source_dir, "README.md")] + sorted(
        glob.glob(os.path.join(A.source_dir, "docs", "*.md")))
    root = os.path.join(work, "root")
    os.makedirs(os.path.join(root, "out"))
    os.makedirs(os.path.join(root, "plugins"))
    os.makedirs(os.path.join(root, "my-plugins"))
    checked = skipped = 0
    failures = []
    for doc in docs:
        name = os.path.relpath(doc, A.source_dir)
        for line, fragment, text in yaml_blocks(doc):
            if fragment:
                skipped += 1
                continue
            checked += 1
            path = os.path.join(root, "snippet.yaml")
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.run([os.path.join(A.bin, "sluice"), "validate", "--no-secrets", path],
                               capture_output=True, text=True, timeout=60, cwd=root)
            errors = [l for l in p.stderr.splitlines() if ": error: " in l]
            elsewhere = [l for l in errors
                         if not ("/var/log/sluice' does not exist" in l or
                                 ("/etc/sluice/" in l and "No such file or directory" in l))]
            print(f"{name}:{line}: {'valid' if p.returncode == 0 else 'errors'}"
                  f"{' (only the deployed machine files)' if errors and not elsewhere else ''}")
            if p.returncode != 0 and (elsewhere or not errors):
                failures.append(f"{name}:{line}: not a valid pipeline; if it is only part of one, "
                                f"put {FRAGMENT_MARK}: why -->  on the line before its fence:\n  " +
                                "\n  ".join(elsewhere or p.stderr.splitlines()))
    for f in failures:
        print("   " + f)
    check(checked >= 3, f"pipelines found in the documents ({checked}; {skipped} marked fragments)")
    check(not failures, "every ```yaml block in README.md and docs/ is a valid pipeline or a marked fragment")


def events_of(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def case_demo(work):
    # The demo's paths are relative to the repository root; run it in a copy of the parts it
    # reads so the test writes nothing into the source tree.
    root = os.path.join(work, "root")
    os.makedirs(os.path.join(root, "out", "demo"))
    shutil.copytree(os.path.join(A.source_dir, "examples"), os.path.join(root, "examples"))
    out = os.path.join(root, "out", "demo")
    procs = []
    try:
        hmc = subprocess.Popen(
            [os.path.join(A.bin, "sluice-fake-hmc"), "--api-port", "26794", "--stomp-port", "26612",
             "--ca-out", os.path.join(out, "fake-hmc-ca.pem"),
             "--ready-file", os.path.join(out, "fake-hmc.ready"),
             "--script", "examples/demo/hmc-script.jsonl", "--exit-after-script"],
            cwd=root, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "hmc.log"), "w"))
        procs.append(hmc)
        ldmd = subprocess.Popen(
            [os.path.join(A.bin, "sluice-fake-ldmd"), "--port", "26482", "--password", ENV["LDM_PASSWORD"],
             "--ca-out", os.path.join(out, "fake-ldmd-ca.pem"),
             "--ready-file", os.path.join(out, "fake-ldmd.ready")],
            cwd=root, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "ldmd.log"), "w"))
        procs.append(ldmd)
        check(poll(lambda: os.path.exists(os.path.join(out, "fake-hmc.ready")) and
                   os.path.exists(os.path.join(out, "fake-ldmd.ready")), 60), "both fakes listen")

        log = open(os.path.join(work, "sluice.log"), "w")
        sluice = subprocess.Popen([os.path.join(A.bin, "sluice"), "run", "examples/demo.yaml"],
                                  cwd=root, env=env(), stdout=subprocess.DEVNULL, stderr=log)
        procs.append(sluice)
        archive = os.path.join(root, "out", "demo-events.jsonl")

        def demo_done():
            evs = events_of(archive)
            types = collections.Counter(e["type"] for e in evs)
            ldm = sum(n for t, n in types.items() if t.startswith("ldm."))
            return hmc.poll() is not None and ldm >= 55 and types["hmc.os-message"] >= 11
        finished = poll(demo_done, 180)
        sluice.send_signal(signal.SIGTERM)
        rc = sluice.wait(timeout=60)
        log.close()
        with open(os.path.join(work, "sluice.log")) as f:
            text = f.read()
        print(text[-4000:])
        check(finished, "the fakes' scripts ran to the end and their events reached the file")
        check(rc == 0, f"sluice stops cleanly on SIGTERM (exit {rc})")
        for name in ("HMC_PASSWORD", "LDM_PASSWORD"):
            check(ENV[name] not in text, f"the value of ${{{name}}} is not in sluice's log")

        evs = events_of(archive)
        types = collections.Counter(e["type"] for e in evs)
        print(dict(types))
        for t in ["hmc.os-message", "hmc.status-change", "hmc.property-change",
                  "hmc.inventory-change", "hmc.job-completion", "sluice.parse-error",
                  "sluice.gap", "sluice.reconnected", "ldm.domain.start-domain",
                  "ldm.resource.add-vcpu", "ldm.hardware.add-spconfig"]:
            check(types[t] >= 1, f"the demo delivers {t}")
        check(any(t.startswith("ldm.progress.") for t in types), "the demo delivers progress events")
        gaps = [e for e in evs if e["type"] == "sluice.gap"]
        check(gaps[0]["data"]["missed"] == 3, "the gap event counts the 3 skipped notifications")
        ids = [e["id"] for e in evs if e["type"].startswith("hmc.")]
        check(len(ids) == len(set(ids)), "no HMC notification is delivered twice")
        sources = {e["attributes"].get("sluice-source") for e in evs}
        check(sources == {"hmc1", "ldoms"}, f"every event names its pipeline source ({sources})")
        check(all(e["attributes"].get("ldm-host") == "127.0.0.1" for e in evs
                  if e["attributes"].get("sluice-source") == "ldoms"),
              "every ldm_xml event names the ldmd host (ldm-host)")
        # Names: the renamed LPAR's last OS message carries its new name and its CPC.
        zos = [e for e in evs if e["type"] == "hmc.os-message" and
               e["attributes"].get("partition") == "ZOSPROD"]
        check(len(zos) == 1 and zos[0]["attributes"].get("cpc") == "CPC2",
              f"the OS message after the rename says partition ZOSPROD on CPC2 ({len(zos)})")
        # The route filtered on partition LINUX*: only LINUX01's notifications, at least the
        # three OS messages sent long after the names were listed.
        linux = events_of(os.path.join(root, "out", "demo-linux.jsonl"))
        check(len(linux) >= 3, f"the LINUX* route delivers LINUX01's OS messages ({len(linux)})")
        check(all(e["attributes"].get("partition", "").startswith("LINUX") and
                  e["attributes"].get("cpc") == "CPC1" for e in linux),
              "the LINUX* route lets only partitions LINUX* of CPC1 through")
        check(len(linux) == sum(1 for e in evs
                                if e["attributes"].get("partition", "").startswith("LINUX")),
              "the LINUX* route delivers every event of a LINUX* partition the archive has")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--bin", required=True)
    ap.add_argument("--source-dir", required=True)
    A = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-examples-") as tmp:
        CASES[A.case](tmp)
    print("PASS")

#!/usr/bin/env python3
"""Every plugin's documented refusals, through the real `sluice validate` and `sluice run`.

    refusals_test.py --sluice PATH --source-dir DIR [--run-every-row] [PLUGIN...]

Reads plugins/*/tests/refusals.json (only PLUGIN's when given): an array of rows

    {"name": "...", "options": {...the instance's complete options...},
     "pointer": "/json/pointer/of/the/offending/option", "message": "substring of the message"}

For each row it writes a minimal pipeline (a source under test feeds the null sink; a sink under
test is fed by a generator) as block-style YAML with one key per line, so that it knows the line
and column of every option key, and checks that

- `sluice validate` exits non-zero and prints `<file>:<line>:<col>: error: ...<message>...` on
  the line of the key the pointer names (an option absent from the file: of its nearest
  enclosing key there);
- `sluice run` refuses the same file with the same exit code, message and position, before
  anything starts (bounded by `timeout`): for the first and the last row of each file, or for
  every row with --run-every-row. Both commands get their errors from the one function
  (load_and_report in core/src/cli/common.cpp, same arguments), so the other rows' `run` would
  test that function again with what `validate` already checked; under a sanitizer each start
  costs most of a second, and the rows are about half the test's time.

Route filters the same way: tests/integration/filter_refusals.json has rows

    {"name": "...", "filter": {...a route's filter...},
     "pointer": "/json/pointer/into/the/filter", "message": "substring of the message"}

each written as the filter of the one route (generator -> null); they run when no PLUGIN is
given, or with the name `filters`.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def yaml_key(key):
    return key if PLAIN_KEY.match(key) else json.dumps(key)


def yaml_scalar(value):
    # JSON scalars are YAML flow scalars of the same type; strings are double-quoted, so that
    # nothing in them ("yes", "0640", "null") changes type. `${` would be substituted: escape it.
    text = json.dumps(value)
    return text.replace("${", "$${") if isinstance(value, str) else text


class Writer:
    """Block-style YAML, one key per line; remembers the position of every JSON pointer."""

    def __init__(self):
        self.lines = []
        self.marks = {}  # pointer -> (line, column), 1-based, of the key (list items: the value)

    def line(self, indent, text):
        self.lines.append(" " * indent + text)
        return len(self.lines)

    def value(self, indent, pointer, key, value):
        """`key: value` at indent (key None: a list item `- value`)."""
        head = (yaml_key(key) + ":") if key is not None else "-"
        column = indent + 1 if key is not None else indent + 3
        if isinstance(value, dict) and value:
            n = self.line(indent, head)
            # A mapping as a list item (`-` alone, its keys below) begins at its first key.
            self.marks[pointer] = (n, column) if key is not None else (n + 1, indent + 3)
            for k, v in value.items():
                self.value(indent + 2, pointer + "/" + k.replace("~", "~0").replace("/", "~1"), k, v)
        elif isinstance(value, list) and value:
            n = self.line(indent, head)
            self.marks[pointer] = (n, column if key is not None else indent + 1)
            for i, v in enumerate(value):
                self.value(indent + 2, pointer + "/" + str(i), None, v)
        else:
            text = ("{}" if isinstance(value, dict) else "[]" if isinstance(value, list)
                    else yaml_scalar(value))
            n = self.line(indent, head + " " + text)
            self.marks[pointer] = (n, column)

    def text(self):
        return "\n".join(self.lines) + "\n"


def pipeline(plugin, kind, options):
    """The pipeline text and the (line, column) of each pointer into the options."""
    w = Writer()
    w.line(0, "version: 1")
    w.line(0, "sources:")
    if kind == "source":
        w.line(2, "under_test:")
        w.line(4, "plugin: " + json.dumps(plugin))
        w.value(4, "", "options", options)
    else:
        w.line(2, "feed:")
        w.line(4, "plugin: generator")
        w.line(4, "options:")
        w.line(6, "rate: 1")
    w.line(0, "sinks:")
    if kind == "sink":
        w.line(2, "under_test:")
        w.line(4, "plugin: " + json.dumps(plugin))
        w.value(4, "", "options", options)
    else:
        w.line(2, "discard:")
        w.line(4, 'plugin: "null"')
    w.line(0, "routes:")
    w.line(2, "- from: " + ("under_test" if kind == "source" else "feed"))
    w.line(4, "to: " + ("discard" if kind == "source" else "under_test"))
    return w.text(), w.marks


def filter_pipeline(spec):
    """A generator -> null pipeline whose route has the filter `spec`, and the (line, column) of
    each pointer into the filter."""
    w = Writer()
    w.line(0, "version: 1")
    w.line(0, "sources:")
    w.line(2, "feed:")
    w.line(4, "plugin: generator")
    w.line(0, "sinks:")
    w.line(2, "discard:")
    w.line(4, 'plugin: "null"')
    w.line(0, "routes:")
    w.line(2, "- from: feed")
    w.line(4, "to: discard")
    w.value(4, "", "filter", spec)
    return w.text(), w.marks


def expected_mark(marks, pointer):
    """The key the pointer names or, for an option left to its default, the nearest enclosing
    key in the file (the instance's `options:` at the least)."""
    p = pointer
    while p not in marks:
        p = p[: p.rfind("/")] if "/" in p else ""
    return marks[p]


def kinds(sluice):
    p = subprocess.run([sluice, "plugins"], capture_output=True, text=True, timeout=120)
    found = {}
    for m in re.finditer(r"^(\w+) \S+ \((source|sink), plugin API", p.stdout, re.M):
        found[m.group(1)] = m.group(2)
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--run-every-row", action="store_true",
                    help="check `sluice run` on every row, not only each file's first and last")
    ap.add_argument("plugins", nargs="*")
    a = ap.parse_args()

    files = sorted(glob.glob(os.path.join(a.source_dir, "plugins", "*", "tests", "refusals.json")))
    if a.plugins:
        files = [f for f in files if f.split(os.sep)[-3] in a.plugins]
    filter_file = os.path.join(a.source_dir, "tests", "integration", "filter_refusals.json")
    with_filters = not a.plugins or "filters" in a.plugins
    if not files and not with_filters:
        print("FAIL: no plugins/*/tests/refusals.json found")
        return 1
    known = kinds(a.sluice)
    failures = 0
    rows_run = 0
    with tempfile.TemporaryDirectory(prefix="sluice-refusals-") as tmp:
        for f in files:
            plugin = f.split(os.sep)[-3]
            if plugin not in known:
                print(f"FAIL: {plugin}: `sluice plugins` does not list it")
                failures += 1
                continue
            n, bad = check_file(a.sluice, tmp, f, plugin, "options",
                                lambda row, p=plugin: pipeline(p, known[p], row["options"]),
                                a.run_every_row)
            rows_run += n
            failures += bad
        if with_filters:
            files.append(filter_file)
            n, bad = check_file(a.sluice, tmp, filter_file, "filters", "filter",
                                lambda row: filter_pipeline(row["filter"]), a.run_every_row)
            rows_run += n
            failures += bad
    print(f"{rows_run} refusal(s) checked in {len(files)} file(s), {failures} failure(s)")
    return 1 if failures else 0


def check_file(sluice, tmp, f, label, key, write, run_every_row):
    """Checks every row of the refusals file f; `key` is the row's key besides name, pointer and
    message, write(row) the pipeline text and marks; `sluice run` on the first and last row, or
    on every row. Returns (rows checked, failures)."""
    with open(f) as fh:
        rows = json.load(fh)
    names = set()
    run = failures = 0
    checks = []
    for i, row in enumerate(rows):
        what = f"{label}[{i}] {row.get('name', '?')}"
        if set(row) != {"name", key, "pointer", "message"} or row["name"] in names:
            print(f"FAIL: {what}: a row has exactly name, {key}, pointer, message, "
                  f"and a name of its own")
            failures += 1
            continue
        names.add(row["name"])
        run += 1
        checks.append([sluice, tmp, label, i, row, what, write(row), run_every_row])
    if checks:
        checks[0][-1] = checks[-1][-1] = True
    # Each row starts sluice twice (validate, run): under a sanitizer that is most of the test's
    # time, so rows run on every core; their reports are printed in row order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for failed, report in pool.map(lambda c: check_row(*c), checks):
            print(report, end="")
            failures += failed
    return run, failures


def check_row(sluice, tmp, label, i, row, what, written, with_run):
    text, marks = written
    path = os.path.join(tmp, f"{label}-{i}.yaml")
    with open(path, "w") as fh:
        fh.write(text)
    line, _ = expected_mark(marks, row["pointer"])
    # The line is the key's; the column is the key's for a plugin's check and the value's for
    # a schema error on a scalar (`answer: "maybe"`): only its form is checked.
    where = re.compile(re.escape(f"{path}:{line}:") + r"\d+: error: ")
    failed = 0
    report = []

    def bad(msg, out):
        nonlocal failed
        failed = 1
        report.append(f"FAIL: {what}: {msg}\n--- {path}\n{text}--- output\n{out}\n")

    def find(err):
        return [l for l in err.splitlines() if ": error: " in l and row["message"] in l]

    v = subprocess.run([sluice, "validate", path], capture_output=True, text=True, timeout=120)
    hits = find(v.stderr)
    if v.returncode == 0:
        bad("`sluice validate` said valid", v.stdout + v.stderr)
    elif not hits:
        bad(f"`sluice validate` printed no error with {row['message']!r}", v.stderr)
    elif not any(where.match(l) for l in hits):
        bad(f"`sluice validate` did not put it at line {line}", v.stderr)
    if failed:
        return 1, "".join(report)
    want = [l for l in hits if where.match(l)]
    if not with_run:
        return 0, f"ok: {what}: {want[0]} (validate)\n"
    # Nothing may start: a run that got past its checks would go on until the timeout (124).
    r = subprocess.run(["timeout", "-k", "5", "60", sluice, "run", path], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != v.returncode:
        bad(f"`sluice run` exited {r.returncode}, validate {v.returncode}", r.stderr)
    elif not any(l in r.stderr.splitlines() for l in want):
        bad(f"`sluice run` did not refuse with {want[0]!r}", r.stderr)
    if not failed:
        report.append(f"ok: {what}: {want[0]} (validate, run)\n")
    return failed, "".join(report)


if __name__ == "__main__":
    sys.exit(main())

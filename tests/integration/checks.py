"""What the integration test scripts share: `ok: ...` per check passed, `FAIL: ...` and exit 1 at
the first that does not hold; bounded polling; small file and port helpers."""
import os
import socket
import sys
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


def poll(pred, timeout=30.0):
    """True as soon as pred() holds, checked every 50 ms; pred() once more at the timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def write(folder, name, text):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def lines_of(path):
    """The file's non-empty lines without their newlines; [] while it does not exist."""
    try:
        with open(path) as f:
            return [line for line in f.read().splitlines() if line]
    except FileNotFoundError:
        return []


def free_port():
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

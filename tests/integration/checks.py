"""What every integration test script prints: `ok: ...` per check passed, `FAIL: ...` and exit 1
at the first that does not hold."""
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)

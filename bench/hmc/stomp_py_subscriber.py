#!/usr/bin/python3
"""The baseline: one stomp.py subscriber (the transport zhmcclient uses) counting N messages.

Usage: stomp_py_subscriber.py PORT CA_FILE TOPIC N
Prints "subscribed" once the SUBSCRIBE receipt is in, then "done <seconds> <cpu_seconds>" after
the N-th message (time from the first message to the last).
"""
import resource
import sys
import threading
import time

import stomp


class Counter(stomp.ConnectionListener):
    def __init__(self, n):
        self.n = n
        self.count = 0
        self.first = None
        self.cpu0 = None
        self.done = threading.Event()
        self.receipt = threading.Event()

    def on_receipt(self, frame):
        self.receipt.set()

    def on_message(self, frame):
        if self.count == 0:
            self.first = time.monotonic()
            self.cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        self.count += 1
        if self.count == self.n:
            self.done.set()


def main():
    port, ca, topic, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    conn = stomp.Connection([("127.0.0.1", port)], heartbeats=(0, 0))
    conn.set_ssl(for_hosts=[("127.0.0.1", port)], ca_certs=ca)
    listener = Counter(n)
    conn.set_listener("", listener)
    conn.connect("hmcuser", "hmcpassword", wait=True)
    conn.subscribe(destination="/topic/" + topic, id=1, ack="auto", receipt="sub")
    if not listener.receipt.wait(30):
        print("no receipt", flush=True)
        return 1
    print("subscribed", flush=True)
    if not listener.done.wait(600):
        print("timeout %d" % listener.count, flush=True)
        return 1
    elapsed = time.monotonic() - listener.first
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru.ru_utime + ru.ru_stime) - (listener.cpu0.ru_utime + listener.cpu0.ru_stime)
    print("done %.6f %.6f" % (elapsed, cpu), flush=True)
    conn.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())

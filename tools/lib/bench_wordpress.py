"""Real WordPress with the guard On against the same stack without the module.

Two sandboxes at once (tests/lib/wp_sandbox.py, each in namespaces of its own; the
Debian `wordpress` package on MariaDB and PHP-FPM, apache2):
  A  the module not loaded;
  B  the module loaded, `XmlRpcGuard On`, its ban helper and DROP rule.
A fixed load runs against A and B alternately, round after round (the order
rotating), for a fixed time per round with a fixed number of connections:
  1. wp.getUsersBlogs with a wrong password (WordPress answers a 403 fault);
  2. a wrong password posted to wp-login.php (200 with its login_error).
Every request is an offence for B, so B runs the whole guarded path: the tee, both
scanners, the verdict and a record() in the shared table. No ban may interfere:
B's rule is maxretry 20 in a findtime of 1 s, and every request comes from the next of
64 client addresses in turn (198.18.2.1-64, a new connection each), so no address comes
near 20 offences in a second. The run fails if B banned anyone, or any answer was not
the expected failure. Prints Markdown rows: requests/s medians (min-max) and B/A.
"""

import argparse
import json
import statistics
import sys

from wp_sandbox import Sandbox

ADDRESSES = tuple(f"198.18.2.{i}" for i in range(1, 65))
GUARD = "XmlRpcGuard On\nXmlRpcGuardMaxRetry 20\nXmlRpcGuardFindTime 1\nXmlRpcGuardBanTime 60"

# The load: `connections` threads, each sending one request at a time on a fresh
# connection from the next client address, for `seconds`. Prints one JSON line: the
# answers counted by kind.
LOAD = r"""
import http.client, itertools, json, sys, threading, time, urllib.parse
kind, vhost, seconds, connections = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
addresses = itertools.cycle(sys.argv[5:])
lock = threading.Lock()
XMLRPC = ('<?xml version="1.0"?><methodCall><methodName>wp.getUsersBlogs</methodName><params>'
          '<param><value><string>admin</string></value></param>'
          '<param><value><string>not-the-password</string></value></param></params></methodCall>')
LOGIN = urllib.parse.urlencode({"log": "admin", "pwd": "not-the-password", "wp-submit": "Log In"})
counts = {}
def one(src):
    c = http.client.HTTPConnection("198.18.0.1", 80, timeout=30, source_address=(src, 0))
    try:
        if kind == "xmlrpc":
            c.request("POST", "/xmlrpc.php", XMLRPC, {"Host": vhost, "Content-Type": "text/xml"})
            a = c.getresponse(); body = a.read()
            return "fault 403" if a.status == 200 and b"<int>403</int>" in body else f"HTTP {a.status}"
        c.request("POST", "/wp-login.php", LOGIN,
                  {"Host": vhost, "Content-Type": "application/x-www-form-urlencoded"})
        a = c.getresponse(); body = a.read()
        return "login_error" if a.status == 200 and b'id="login_error"' in body else f"HTTP {a.status}"
    except Exception as e:
        return type(e).__name__
    finally:
        c.close()
end = time.monotonic() + seconds
def worker():
    while time.monotonic() < end:
        with lock:
            src = next(addresses)
        outcome = one(src)
        with lock:
            counts[outcome] = counts.get(outcome, 0) + 1
started = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(connections)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"counts": counts, "elapsed": time.monotonic() - started}))
"""

EXPECTED = {"xmlrpc": "fault 403", "login": "login_error"}


def load(sandbox, kind, seconds, connections):
    out = sandbox.net.run(sandbox.net.client, [sys.executable, "-c", LOAD, kind, sandbox.host, str(seconds),
                                               str(connections), *ADDRESSES],
                          capture_output=True, text=True, timeout=seconds + 120).stdout
    result = json.loads(out.strip().splitlines()[-1])
    counts = result["counts"]
    if set(counts) != {EXPECTED[kind]}:
        raise RuntimeError(f"unexpected answers from {kind}: {counts}")
    return counts[EXPECTED[kind]] / result["elapsed"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    sandboxes = {}
    try:
        sandboxes["A"] = Sandbox("wpa", "", clients=ADDRESSES, load_guard=False, firewall=False)
        sandboxes["B"] = Sandbox("wpb", GUARD, clients=ADDRESSES)
        print(f"\n{args.connections} connections, {args.seconds} s per round, {args.rounds} rounds, "
              "A and B alternating; requests/s\n")
        print("| traffic, real WordPress | A: without the module, median (min-max) "
              "| B: XmlRpcGuard On, median (min-max) | B/A |")
        print("|---|---:|---:|---:|")
        for name, kind in (("wp.getUsersBlogs, wrong password (403 fault)", "xmlrpc"),
                           ("wp-login.php, wrong password (200, login_error)", "login")):
            for label in "AB":  # warm-up (opcache, MariaDB), not counted
                load(sandboxes[label], kind, 3, args.connections)
            rates = {"A": [], "B": []}
            order = ["A", "B"]
            for _ in range(args.rounds):
                for label in order:
                    rates[label].append(load(sandboxes[label], kind, args.seconds, args.connections))
                order.reverse()
            a, b = rates["A"], rates["B"]
            print(f"| {name} | {statistics.median(a):,.1f} ({min(a):,.1f}-{max(a):,.1f}) "
                  f"| {statistics.median(b):,.1f} ({min(b):,.1f}-{max(b):,.1f}) "
                  f"| {statistics.median(b) / statistics.median(a):.3f} |", flush=True)
        log = sandboxes["B"].log()
        offences, bans = log.count("XRG0101"), log.count("XRG0102")
        print(f"\n(B logged {offences} offence lines and {bans} bans; the kernel set holds "
              f"{len(sandboxes['B'].set_members())} addresses)")
        if bans or not offences:
            return 1
    finally:
        for sandbox in sandboxes.values():
            sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A WordPress client from one source address: an attacker or a legitimate user.

Run inside the client namespace. Speaks real XML-RPC (xmlrpc.client) and the real
login form, one new TCP connection per attempt, and prints one JSON line per
attempt with what it got:

  answered  an XML-RPC answer or login page was read (detail: fault code / "ok")
  denied    httpd answered 403 (the guard's in-process deny)
  dropped   the connection did not even open in time (the kernel's DROP; a server
            that accepted the connection and then said nothing is an error instead)
  error     anything else (detail says what)

Each line has "t0" and "t", when the attempt began and ended (time.time()).

Every run is bounded: at most `count` attempts, and it stops after two drops in a
row (the attacker has been cut off). Usage:

  wp_agent.py SCENARIO --src ADDR --host 198.18.0.1 --vhost blog.test [options]
  scenarios: getusersblogs, pingback, multicall, login, sayhello, flood, botnet
  botnet: --srcs A,B,C: from each address in turn, `count` bad passwords for --user
  (a dictionary attack spread over many addresses, each below maxretry) through
  XML-RPC; botnet_login the same through wp-login.php
"""

import argparse
import http.client
import json
import socket
import sys
import threading
import time
import urllib.parse
import xmlrpc.client


class ConnectTimeout(Exception):
    """The TCP connection did not open in time."""


class SourceConnection(http.client.HTTPConnection):
    """An HTTP connection that tells a connect that timed out from an answer that did."""

    def connect(self):
        try:
            super().connect()
        except (socket.timeout, TimeoutError):
            raise ConnectTimeout() from None


class SourceTransport(xmlrpc.client.Transport):
    """HTTP from a chosen source address, to a chosen address, with a Host header."""

    def __init__(self, src, address, timeout):
        super().__init__()
        self.src, self.address, self.timeout = src, address, timeout

    def make_connection(self, host):
        self._connection = (host, SourceConnection(
            self.address, 80, timeout=self.timeout, source_address=(self.src, 0)))
        return self._connection[1]


def classify(call):
    """Runs one attempt; returns (outcome, detail)."""
    try:
        return "answered", call()
    except xmlrpc.client.Fault as fault:
        return "answered", f"fault {fault.faultCode}"
    except xmlrpc.client.ProtocolError as e:
        return ("denied", "403") if e.errcode == 403 else ("error", f"HTTP {e.errcode}")
    except ConnectTimeout:
        return "dropped", "connect timed out"
    except (socket.timeout, TimeoutError):
        return "error", "read timed out (connected, then no answer)"
    except OSError as e:
        return "error", f"{type(e).__name__}: {e}"


class Agent:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()

    def proxy(self):
        transport = SourceTransport(self.args.src, self.args.host, self.args.timeout)
        return xmlrpc.client.ServerProxy(f"http://{self.args.vhost}/xmlrpc.php", transport=transport)

    def emit(self, n, outcome, detail, t0):
        line = {"scenario": self.args.scenario, "src": self.args.src, "n": n,
                "outcome": outcome, "detail": detail, "t0": round(t0, 6), "t": round(time.time(), 6)}
        with self.lock:
            print(json.dumps(line), flush=True)

    # -- one attempt of each kind --
    def getusersblogs(self, n):
        password = self.args.password or f"guess{n:04d}"
        return classify(lambda: len(self.proxy().wp.getUsersBlogs(self.args.user, password))
                        and "ok")

    def pingback(self, n):
        return classify(lambda: self.proxy().pingback.ping(self.args.source, self.args.target) and "ok")

    def sayhello(self, n):
        return classify(lambda: self.proxy().demo.sayHello())

    def multicall(self, n):
        def call():
            calls = xmlrpc.client.MultiCall(self.proxy())
            for i in range(self.args.size):
                calls.wp.getUsersBlogs("admin", f"guess{n:04d}-{i:04d}")
            faults = 0
            results = calls()
            for i in range(self.args.size):
                try:
                    results[i]
                except xmlrpc.client.Fault:
                    faults += 1
            return f"{faults} faults in {self.args.size} calls"
        return classify(call)

    def login(self, n):
        def call():
            password = self.args.password or f"guess{n:04d}"
            form = urllib.parse.urlencode({"log": self.args.user, "pwd": password,
                                           "wp-submit": "Log In"})
            connection = SourceConnection(self.args.host, 80, timeout=self.args.timeout,
                                          source_address=(self.args.src, 0))
            try:
                connection.request("POST", "/wp-login.php", form, {
                    "Host": self.args.vhost, "Content-Type": "application/x-www-form-urlencoded"})
                answer = connection.getresponse()
                body = answer.read().decode(errors="replace")
            finally:
                connection.close()
            if answer.status == 403:
                raise xmlrpc.client.ProtocolError("", 403, "Forbidden", {})
            if answer.status == 302:
                return "logged in"
            return "login_error" if 'id="login_error"' in body else f"HTTP {answer.status}"
        return classify(call)

    # -- runs --
    def run(self):
        attempt = getattr(self, self.args.scenario)
        drops_in_a_row = 0
        for n in range(1, self.args.count + 1):
            t0 = time.time()
            if self.args.announce:
                # Not JSON: readers of the attempts skip it; a watcher learns the
                # attempt has begun before its outcome is known.
                print(f"starting {n} {t0:.6f}", flush=True)
            outcome, detail = attempt(n)
            self.emit(n, outcome, detail, t0)
            drops_in_a_row = drops_in_a_row + 1 if outcome == "dropped" else 0
            if drops_in_a_row >= 2:
                break
            if self.args.pause:
                time.sleep(self.args.pause)

    def botnet(self, attempt=None):
        """From each of --srcs in turn, `count` bad passwords for --user: every address
        stays below maxretry, the name collects the failures."""
        attempt = attempt or self.getusersblogs
        n = 0
        for src in self.args.srcs.split(","):
            self.args.src = src
            for _ in range(self.args.count):
                n += 1
                t0 = time.time()
                outcome, detail = attempt(n)
                self.emit(n, outcome, detail, t0)

    def flood(self):
        """`connections` threads, each `count` bad-password attempts, all at once."""
        start = threading.Barrier(self.args.connections)
        counter = iter(range(1, 1_000_000))

        def worker():
            start.wait()
            for _ in range(self.args.count):
                with self.lock:
                    n = next(counter)
                t0 = time.time()
                outcome, detail = self.getusersblogs(n)
                self.emit(n, outcome, detail, t0)
                if outcome == "dropped":
                    return
        threads = [threading.Thread(target=worker) for _ in range(self.args.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["getusersblogs", "pingback", "multicall", "login",
                                             "sayhello", "flood", "botnet", "botnet_login"])
    parser.add_argument("--src", required=True)
    parser.add_argument("--host", default="198.18.0.1", help="the server address to connect to")
    parser.add_argument("--vhost", default="blog.test")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--announce", type=int, default=0,
                        help="1: print 'starting N T0' before each attempt")
    parser.add_argument("--user", default="admin", help="the user name guessed")
    parser.add_argument("--srcs", default="", help="botnet: the source addresses, comma-separated")
    parser.add_argument("--password", help="default: a wrong guess per attempt")
    parser.add_argument("--source", help="pingback source URL")
    parser.add_argument("--target", help="pingback target URL")
    parser.add_argument("--size", type=int, default=500, help="calls per multicall")
    parser.add_argument("--connections", type=int, default=8, help="flood: parallel connections")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between attempts")
    args = parser.parse_args()
    agent = Agent(args)
    if args.scenario == "flood":
        agent.flood()
    elif args.scenario == "botnet":
        agent.botnet()
    elif args.scenario == "botnet_login":
        agent.botnet(agent.login)
    else:
        agent.run()


if __name__ == "__main__":
    sys.exit(main())

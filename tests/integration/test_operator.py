"""The operator's view of a running server: the status page (HTML, ?json, ?metrics)
under an attack, and xmlrpcguardctl through the ban helper's control socket.

The server, its sets and its DROP rule live in the test's own namespaces; the
control socket is a file in the test's work directory.
"""

import json
import os
import re
import subprocess
import tempfile
import shutil
import unittest

from netns import wait_until
from test_kernel_bans import install_firewall
from xrg_harness import Client, GuardedServer, assert_dropped_by_kernel, call, login_call, skip_unless_ready

BUILD_DIR = os.environ.get("XRG_BUILD_DIR", "")
CTL = os.path.join(BUILD_DIR, "tools", "xmlrpcguardctl")
GUARDED = "guarded.test"
STATUS = "/guard-status"
PROTECTED = "198.18.3.250"  # the server-wide XmlRpcGuardIgnoreIP


def prometheus_problem(text):
    """What breaks the Prometheus text format (0.0.4) in `text`, or None."""
    name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    label = r'[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
    sample = re.compile(rf"({name})(\{{{label}(,{label})*\}})? -?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?")
    types, series = {}, set()
    if not text.endswith("\n"):
        return "no final newline"
    for line in text.splitlines():
        if m := re.fullmatch(rf"# HELP ({name}) .+", line):
            continue
        if m := re.fullmatch(rf"# TYPE ({name}) (counter|gauge|histogram|summary|untyped)", line):
            if m.group(1) in types:
                return f"second TYPE: {line}"
            types[m.group(1)] = m.group(2)
            continue
        m = sample.fullmatch(line)
        if not m:
            return f"not a sample: {line}"
        if m.group(1) not in types:
            return f"sample before its TYPE: {line}"
        if types[m.group(1)] == "counter" and not m.group(1).endswith("_total"):
            return f"counter without _total: {line}"
        key = line.rsplit(" ", 1)[0]
        if key in series:
            return f"duplicate series: {line}"
        series.add(key)
    return None


class OperatorSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        if not os.path.exists(CTL):
            raise RuntimeError(f"xmlrpcguardctl is not built ({CTL})")
        cls.rundir = tempfile.mkdtemp(prefix="xrg-oper-run-")
        os.chmod(cls.rundir, 0o755)
        cls.socket = os.path.join(cls.rundir, "control.sock")
        guard = f"XmlRpcGuard On\n<Location {STATUS}>\n  SetHandler xmlrpcguard-status\n</Location>"
        try:
            cls.server = GuardedServer("oper", "fpm", {GUARDED: guard},
                                       f"XmlRpcGuardControlSocket {cls.socket}\n"
                                       f"XmlRpcGuardIgnoreIP {PROTECTED}",
                                       prepare=install_firewall)
        except BaseException:
            shutil.rmtree(cls.rundir, ignore_errors=True)
            raise
        cls.net = cls.server.net
        cls.hosts = iter(range(10, 250))
        wait_until(lambda: os.path.exists(cls.socket), timeout=10, what="control socket")
        cls.viewer = cls.new_address()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.rundir, ignore_errors=True)

    def setUp(self):
        self.client = Client(self.net)
        self.addCleanup(self.client.close, self.net)

    # -- helpers --
    @classmethod
    def new_address(cls):
        address = f"198.18.3.{next(cls.hosts)}"
        cls.net.add_client_address(address)
        return address

    def addr(self):
        return self.new_address()

    def offend(self, src, times=3):
        for _ in range(times):
            answer = self.client.post("/xmlrpc.php", login_call("wrong"), src, GUARDED)
            self.assertIn("<int>403</int>", answer["body"])

    def status(self, query=""):
        answer = self.client.get(STATUS + (f"?{query}" if query else ""), self.viewer, GUARDED)
        self.assertEqual(answer["status"], 200, answer)
        return answer

    def ctl(self, *args, user=None, group=None):
        argv = [CTL, "--socket", self.socket, *args]
        if user:
            argv = ["setpriv", f"--reuid={user}", f"--regid={group or user}", "--clear-groups", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=10)

    def in_set(self, address):
        return self.net.run(self.net.server, ["ipset", "test", "xmlrpcguard", address],
                            check=False).returncode == 0

    def connects(self, src, timeout=1.5):
        self.client.send(method="GET", path="/index.html", src=src, vhost=GUARDED, timeout=timeout)
        event = self.client.next_event()
        if "error" in event:
            self.assertEqual(event["error"], "connect timed out")
            return None
        return event["status"]

    def assert_dropped(self, src):
        assert_dropped_by_kernel(self, self.net, src, self.addr(), GUARDED)

    # -- the page --
    def test_the_page_under_an_attack_names_the_ban_in_every_format(self):
        src = self.addr()
        self.offend(src)
        wait_until(lambda: self.in_set(src), timeout=5, what="the ban")

        report = json.loads(self.status("json")["body"])
        bans = {b["address"]: b for b in report["bans"]}
        self.assertIn(src, bans)
        self.assertEqual(bans[src]["reason"], "auth_failure")
        self.assertRegex(bans[src]["until"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertGreaterEqual(report["counters"]["auth_failures"], 3)
        self.assertGreaterEqual(report["counters"]["bans"], 1)
        self.assertGreaterEqual(report["table"]["banned"], 1)
        self.assertEqual(report["maxretry"], 3)

        html = self.status()
        self.assertTrue(html["headers"]["content-type"].startswith("text/html"))
        self.assertIn(f"<td>{src}</td><td>auth_failure</td>", html["body"])
        self.assertNotRegex(html["body"], r'(src|href)="https?:', "no external assets")

        metrics = self.status("metrics")
        self.assertTrue(metrics["headers"]["content-type"].startswith("text/plain; version=0.0.4"))
        self.assertIsNone(prometheus_problem(metrics["body"]))
        self.assertRegex(metrics["body"], r"\nxmlrpcguard_bans_total [1-9]\d*\n")
        self.assertNotIn(src, metrics["body"], "no addresses in metric labels")

    def test_the_format_check_can_fail(self):
        self.assertIsNotNone(prometheus_problem("xrg_x_total 1\n"))
        self.assertIsNotNone(prometheus_problem("# TYPE xrg_x counter\nxrg_x 1\n"))
        self.assertIsNone(prometheus_problem("# TYPE xrg_x_total counter\nxrg_x_total{a=\"b\"} 1\n"))

    def test_counters_are_shared_by_every_child(self):
        before = json.loads(self.status("json")["body"])["counters"]["xmlrpc_exchanges"]
        src = self.addr()
        for _ in range(6):  # separate connections, spread over the children
            self.assertIn("Hello", self.client.post("/xmlrpc.php", call("demo.sayHello"), src,
                                                    GUARDED)["body"])
        after = json.loads(self.status("json")["body"])["counters"]["xmlrpc_exchanges"]
        self.assertEqual(after - before, 6)

    def test_the_page_changes_nothing_so_it_takes_no_post(self):
        answer = self.client.post(STATUS, "unban=everyone", self.viewer, GUARDED)
        self.assertEqual(answer["status"], 405)

    # -- the control tool --
    def test_an_unbanned_attacker_connects_again_at_once(self):
        src = self.addr()
        self.offend(src)
        wait_until(lambda: self.in_set(src), timeout=5, what="the ban")
        self.assert_dropped(src)
        done = self.ctl("unban", src)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, f"ok unbanned {src}\n")
        self.assertFalse(self.in_set(src))
        self.assertEqual(self.connects(src), 200, "neither the kernel nor httpd refuses it now")
        self.assertIn(f"XRG0217: control (uid 0): unban {src} -> ok unbanned", self.server.log())

    def test_ban_list_and_flush(self):
        src = self.addr()
        done = self.ctl("ban", src, "10m")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertTrue(self.in_set(src))
        self.assert_dropped(src)
        listing = self.ctl("list").stdout
        self.assertRegex(listing, rf"\nbanned {re.escape(src)} reason=manual since=\S+ until=\S+")
        status = self.ctl("status")
        self.assertEqual(status.returncode, 0)
        self.assertRegex(status.stdout, r"\nbanned_now [1-9]\d*\n")
        flushed = self.ctl("flush")
        self.assertRegex(flushed.stdout, r"^ok unbanned [1-9]\d*\n$")
        self.assertFalse(self.in_set(src))
        self.assertEqual(self.connects(src), 200)

    def test_a_ban_of_a_protected_address_is_refused_by_the_helper(self):
        self.net.add_client_address(PROTECTED)
        for address in (PROTECTED, "127.0.0.1"):  # the server-wide ignore list, loopback
            done = self.ctl("ban", address, "10m")
            self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
            self.assertIn("a protected address (loopback, the server's own, XmlRpcGuardIgnoreIP) is never banned",
                          done.stdout + done.stderr)
            self.assertIn(f"XRG0217: control (uid 0): ban {address} 10m -> error: a protected address",
                          self.server.log())
            self.assertFalse(self.in_set(address))
        listing = self.net.run(self.net.server, ["ipset", "list", "xmlrpcguard"]).stdout
        self.assertNotIn(f"{PROTECTED} ", listing)
        self.assertNotRegex(self.ctl("list").stdout, rf"banned {re.escape(PROTECTED)} ")
        self.assertEqual(self.connects(PROTECTED), 200, "neither the kernel nor httpd refuses it")

    def test_refusals(self):
        self.assertEqual(self.ctl("ban", "not-an-address").returncode, 1)
        self.assertEqual(self.ctl().returncode, 2)
        stranger = self.ctl("list", user="nobody", group="nogroup")
        self.assertEqual(stranger.returncode, 3, stranger.stdout + stranger.stderr)
        self.assertIn("Permission denied", stranger.stderr)
        # Without XmlRpcGuardControlGroup the socket is root's alone: httpd's User and
        # Group are kept out by its file mode (test_trust.py tries the rest).
        for user, group in (("www-data", "www-data"), ("daemon", "www-data")):
            refused = self.ctl("status", user=user, group=group)
            self.assertEqual(refused.returncode, 3, refused.stdout + refused.stderr)
            self.assertIn("Permission denied", refused.stderr)


if __name__ == "__main__":
    unittest.main()

"""Repeat offenders and restarts: bans and their counts survive a full stop and start
of httpd (and a simulated reboot: the kernel's sets and rules gone), a repeat offender's
ban lasts XmlRpcGuardBanTimeFactor times the one before, a bad state file is moved aside
and never stops httpd, and the boot unit's command brings the rule back."""

import configparser
import json
import os
import shlex
import shutil
import struct
import tempfile
import unittest
import zlib

from netns import TestNet, wait_until
from xrg_harness import (Client, GuardedServer, assert_dropped_by_kernel, login_call,
                         skip_unless_ready)

SOURCE_DIR = os.environ.get("XRG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("XRG_BUILD_DIR", "")
FIREWALL = os.path.join(SOURCE_DIR, "tools", "xmlrpcguard-firewall")
UNIT = os.path.join(SOURCE_DIR, "conf", "xmlrpcguard-firewall.service")
CTL = os.path.join(BUILD_DIR, "tools", "xmlrpcguardctl")
GUARDED = "guarded.test"
STATUS = "/guard-status"
BANTIME = 60


def boot_command():
    """The unit's ExecStart, with the firewall tool taken from the source tree."""
    unit = configparser.ConfigParser(interpolation=None)
    unit.read(UNIT)
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert argv[0] == "/usr/local/sbin/xmlrpcguard-firewall", argv
    return [FIREWALL, *argv[1:]]


class PersistenceSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.statedir = tempfile.mkdtemp(prefix="xrg-state-")  # 0700, root's
        cls.state = os.path.join(cls.statedir, "state")
        cls.socket = os.path.join(cls.statedir, "control.sock")
        main = (f"XmlRpcGuardStateFile {cls.state}\nXmlRpcGuardControlSocket {cls.socket}\n"
                f"XmlRpcGuardBanTime {BANTIME}\nXmlRpcGuardBanTimeIncrement On\n"
                "XmlRpcGuardBanTimeFactor 2\nXmlRpcGuardBanTimeMax 1h")
        guard = f"XmlRpcGuard On\n<Location {STATUS}>\n  SetHandler xmlrpcguard-status\n</Location>"
        try:
            cls.server = GuardedServer("persist", "fpm", {GUARDED: guard}, main,
                                       prepare=lambda s: s.net.run(s.net.server, boot_command()))
        except BaseException:
            shutil.rmtree(cls.statedir, ignore_errors=True)
            raise
        cls.net = cls.server.net
        cls.hosts = iter(range(10, 250))
        cls.viewer = cls.new_address()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.statedir, ignore_errors=True)

    def setUp(self):
        self.client = Client(self.net)
        self.addCleanup(lambda: self.client.close(self.net))

    @classmethod
    def new_address(cls):
        address = f"198.18.6.{next(cls.hosts)}"
        cls.net.add_client_address(address)
        return address

    # -- helpers --
    def offend(self, src, times=3):
        for _ in range(times):
            answer = self.client.post("/xmlrpc.php", login_call("wrong"), src, GUARDED)
            self.assertIn("<int>403</int>", answer["body"])

    def report(self):
        answer = self.client.get(STATUS + "?json", self.viewer, GUARDED)
        self.assertEqual(answer["status"], 200, answer)
        return json.loads(answer["body"])

    def ban_of(self, address):
        return next((b for b in self.report()["bans"] if b["address"] == address), None)

    def wait_ban(self, address, times_banned):
        found = {}

        def banned():
            ban = self.ban_of(address)
            found["ban"] = ban
            return ban is not None and ban["times_banned"] == times_banned
        wait_until(banned, timeout=10, what=f"ban {times_banned} of {address} on the status page")
        return found["ban"]

    def in_set(self, address):
        return self.net.run(self.net.server, ["ipset", "test", "xmlrpcguard", address],
                            check=False).returncode == 0

    def ctl(self, *args):
        import subprocess
        return subprocess.run([CTL, "--socket", self.socket, *args], capture_output=True,
                              text=True, timeout=10)

    def stop(self):
        self.client.close(self.net)
        self.server.httpd.stop()

    def start(self):
        log = self.server.log()
        generations, restored = log.count("resuming normal operations"), log.count("XRG0219")
        self.server.httpd.start()
        try:
            wait_until(lambda: self.server.httpd.generations() > generations, timeout=15,
                       what="apache2 start")
        except TimeoutError:
            raise AssertionError("apache2 did not start:\n" + self.server.log()[len(log):])
        # The first helper reads the state file (or says there is none) before it serves.
        wait_until(lambda: self.server.log().count("XRG0219") > restored
                   or "XRG0220" in self.server.log()[len(log):], timeout=10,
                   what="the helper's state report")
        self.client = Client(self.net)

    def our_entries(self, report, addresses):
        keep = ("address", "reason", "since", "until", "ban_seconds", "times_banned",
                "next_ban_seconds", "offences_in_window", "last_offence")
        entries = [{k: e.get(k) for k in keep} for e in report["bans"] + report["offenders"]
                   if e["address"] in addresses]
        return sorted(entries, key=lambda e: e["address"])

    # -- the cases --
    def test_a_full_restart_and_a_reboot_keep_every_ban_and_count(self):
        banned, counting = self.new_address(), self.new_address()
        self.offend(banned)
        first = self.wait_ban(banned, 1)
        self.assertEqual(first["ban_seconds"], BANTIME)
        self.assertEqual(first["next_ban_seconds"], 2 * BANTIME)
        self.offend(counting, 2)  # an open window under the threshold
        wait_until(lambda: self.in_set(banned), timeout=5, what="the kernel ban")
        before = self.our_entries(self.report(), {banned, counting})
        self.assertEqual(len(before), 2, before)

        # A stop, then a reboot: the kernel forgets its sets and rules.
        self.stop()
        self.assertTrue(os.path.exists(self.state))
        self.assertEqual(os.stat(self.state).st_mode & 0o777, 0o600)
        self.net.run(self.net.server, [FIREWALL, "remove"])
        self.net.run(self.net.server, boot_command())  # the unit, before apache2
        self.assertFalse(self.in_set(banned))
        self.start()

        after = self.our_entries(self.report(), {banned, counting})
        self.assertEqual(after, before)  # what the page showed before the stop
        wait_until(lambda: self.in_set(banned), timeout=5, what="the reconcile to re-add the ban")
        assert_dropped_by_kernel(self, self.net, banned, self.viewer, GUARDED)
        # httpd itself denies it too: without the DROP rule for a moment, it gets a 403.
        self.net.run(self.net.server, ["iptables", "-D", "INPUT", "-m", "set", "--match-set",
                                       "xmlrpcguard", "src", "-j", "DROP"])
        try:
            self.assertEqual(self.client.get("/index.html", banned, GUARDED)["status"], 403)
        finally:
            self.net.run(self.net.server, boot_command())

    def test_each_new_ban_lasts_factor_times_the_one_before_also_after_a_restart(self):
        if not os.path.exists(CTL):
            raise RuntimeError(f"xmlrpcguardctl is not built ({CTL})")
        src = self.new_address()
        self.offend(src)
        self.assertEqual(self.wait_ban(src, 1)["ban_seconds"], BANTIME)
        self.assertEqual(self.ctl("unban", src).returncode, 0)
        self.offend(src)
        second = self.wait_ban(src, 2)
        self.assertEqual(second["ban_seconds"], 2 * BANTIME)
        self.assertEqual(second["next_ban_seconds"], 4 * BANTIME)
        self.assertIn(f"banned {src} ", self.ctl("list").stdout)
        self.assertRegex(self.ctl("list").stdout, rf"banned {src} .*times_banned=2 next_ban={4 * BANTIME}\n")
        self.assertIn(f"times_banned=2 bantime={2 * BANTIME}", self.server.log())  # XRG0112
        self.stop()
        self.start()
        self.assertEqual(self.ctl("unban", src).returncode, 0)
        self.offend(src)
        self.assertEqual(self.wait_ban(src, 3)["ban_seconds"], 4 * BANTIME)

    def test_a_bad_state_file_is_moved_aside_and_httpd_starts_empty(self):
        src = self.new_address()
        self.offend(src)
        self.wait_ban(src, 1)
        self.stop()
        good = open(self.state, "rb").read()
        self.assertEqual(good[:8], b"XRGSTATE")

        def fixed_crc(body):
            return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]))
        middle = len(good) // 2
        bad_files = {
            "empty": b"",
            "truncated": good[:middle],
            "bad checksum": good[:middle] + bytes([good[middle] ^ 1]) + good[middle + 1:],
            "foreign": fixed_crc(b"NOTOURS!" + good[8:]),
            "future version": fixed_crc(good[:8] + struct.pack("<I", 2) + good[12:]),
        }
        try:
            for name, content in bad_files.items():
                with self.subTest(name):
                    with open(self.state, "wb") as f:
                        f.write(content)
                    os.chmod(self.state, 0o600)
                    log_before = len(self.server.log())
                    self.start()
                    said = [line for line in self.server.log()[log_before:].splitlines()
                            if "XRG0220" in line]
                    self.assertEqual(len(said), 1, said)
                    self.assertIn(self.state, said[0])
                    aside = [n for n in os.listdir(self.statedir) if n.startswith("state.bad-")]
                    self.assertEqual(len(aside), 1, aside)
                    self.assertIn(aside[0], said[0])
                    with open(os.path.join(self.statedir, aside[0]), "rb") as f:
                        self.assertEqual(f.read(), content)
                    os.unlink(os.path.join(self.statedir, aside[0]))
                    self.assertIsNone(self.ban_of(src))  # started empty (the kernel entry expires alone)
                    self.assertEqual(self.report()["bans_total"], 0)
                    self.stop()
        finally:
            if self.server.httpd.process is None:
                self.start()


class BootUnitSuite(unittest.TestCase):
    def test_the_boot_command_restores_the_rule_in_a_fresh_namespace(self):
        skip_unless_ready()
        with TestNet("boot") as net:
            ns = net.server
            rules = net.run(ns, ["iptables", "-S", "INPUT"]).stdout
            self.assertNotIn("--match-set xmlrpcguard ", rules)
            for _ in range(2):  # idempotent: a second boot (or a manual run) adds nothing
                net.run(ns, boot_command())
            for tool, name in (("iptables", "xmlrpcguard"), ("ip6tables", "xmlrpcguard6")):
                rules = net.run(ns, [tool, "-S", "INPUT"]).stdout
                self.assertEqual(rules.count(f"--match-set {name} src -j DROP"), 1, rules)
                self.assertEqual(net.run(ns, ["ipset", "list", "-t", name], check=False).returncode, 0)
            self.assertEqual(net.run(ns, [FIREWALL, "status"], check=False).returncode, 0)


if __name__ == "__main__":
    unittest.main()

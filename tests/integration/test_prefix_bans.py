"""Prefix bans (XmlRpcGuardPrefixBan): an attacker spread over one IPv6 /48 or one IPv4
/24 ends in ONE ban of the prefix, in the kernel's hash:net set, with its addresses'
table entries folded; a prefix holding an ignored address is never banned; forged
prefix messages on the children's channel are judged like ban messages.

Everything runs in the test's own namespaces (sets, rules, httpd, clients).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from netns import wait_until
from test_configtest import configtest
from test_kernel_bans import children_channel, install_firewall
from xrg_harness import (Client, GuardedServer, assert_dropped_by_kernel, count_lines, login_call,
                         skip_unless_ready)

GUARDED = "guarded.test"
HTTPD_ONLY = "httpdonly.test"  # XmlRpcGuardKernelBan Off: prefix bans stay in httpd (403)
DETECT = "detect.test"
STATUS = "/guard-status"
VHOSTS = {
    GUARDED: "XmlRpcGuard On",
    HTTPD_ONLY: "XmlRpcGuard On\nXmlRpcGuardKernelBan Off",
    DETECT: "XmlRpcGuard DetectOnly",
}
# Threshold 4 and maxretry 3: a prefix is banned once 4 of its addresses offended 12 times.
MAIN = f"""XmlRpcGuardIgnoreIP 198.18.9.77
XmlRpcGuardPrefixBan On
XmlRpcGuardPrefixBanThreshold 4
<Location {STATUS}>
  SetHandler xmlrpcguard-status
</Location>"""
VIEWER = "198.18.1.20"  # views the status page, offends never
CTL = os.path.join(os.environ.get("XRG_BUILD_DIR", ""), "tools", "xmlrpcguardctl")


def prefix_message(network, bits, seconds=600):
    """A prefix message of the children's channel (include/xmlrpcguard/prefix_ban.hpp)."""
    import ipaddress
    import struct
    ip = ipaddress.ip_address(network)
    packed = ipaddress.IPv6Address(f"::ffff:{ip}").packed if ip.version == 4 else ip.packed
    return b"XRGN" + bytes([1, bits, 0, 0]) + struct.pack("<I", seconds) + packed + bytes(4)


class PrefixBanSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        if not os.path.exists(CTL):
            raise RuntimeError(f"xmlrpcguardctl is not built ({CTL})")
        cls.rundir = tempfile.mkdtemp(prefix="xrg-pfx-run-")
        cls.socket = os.path.join(cls.rundir, "control.sock")
        try:
            cls.server = GuardedServer("pfx", "fpm", VHOSTS,
                                       f"{MAIN}\nXmlRpcGuardControlSocket {cls.socket}",
                                       prepare=install_firewall)
        except BaseException:
            shutil.rmtree(cls.rundir, ignore_errors=True)
            raise
        cls.net = cls.server.net
        cls.net.add_client_address(VIEWER)
        wait_until(lambda: cls.helper_pids(), timeout=10, what="ban helper ready")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.rundir, ignore_errors=True)

    @classmethod
    def helper_pids(cls):
        return [int(p) for p in re.findall(r"XRG0204: ban helper (\d+) ready", cls.server.log())]

    def setUp(self):
        self.client = Client(self.net)
        self.addCleanup(self.client.close, self.net)

    # -- helpers --
    def add(self, address):
        self.net.add_client_address(address)
        return address

    def offend(self, src, times=3, vhost=GUARDED):
        for _ in range(times):
            self.assertIn("<int>403</int>", self.post(src, vhost)["body"])

    def post(self, src, vhost=GUARDED):
        host = "2001:db8::1" if ":" in src else "198.18.0.1"
        return self.client.request(method="POST", path="/xmlrpc.php", body=login_call("wrong"),
                                   src=src, vhost=vhost, host=host,
                                   headers={"Content-Type": "text/xml"})

    def ctl(self, *args):
        return subprocess.run([CTL, "--socket", self.socket, *args], capture_output=True, text=True,
                              timeout=10)

    def in_set(self, entry, set_name):
        probe = self.net.run(self.net.server, ["ipset", "test", set_name, entry], check=False)
        return probe.returncode == 0

    def entries(self, set_name):
        listing = self.net.run(self.net.server, ["ipset", "list", set_name]).stdout
        return [line.split()[0] for line in listing.split("Members:\n", 1)[1].splitlines() if line]

    def status(self):
        answer = self.client.get(f"{STATUS}?json", VIEWER, GUARDED, host="198.18.0.1")
        self.assertEqual(answer["status"], 200, answer)
        return json.loads(answer["body"])

    def table_holds(self, report, prefix):
        keys = [entry["address"] for entry in report["bans"] + report["offenders"]]
        return [key for key in keys if key.startswith(prefix)]

    # -- cases --
    def test_the_ipv6_slash_48_attacker_ends_in_one_prefix_ban(self):
        # Two /64s at maxretry (each banned alone), then /64s just below it: the fifth
        # makes 12 offences from 5 addresses of 2001:db8:77::/48.
        attackers = [self.add(f"2001:db8:77:{n}::10") for n in range(1, 6)]
        self.offend(attackers[0], 3)
        self.offend(attackers[1], 3)
        wait_until(lambda: self.in_set(attackers[1], "xmlrpcguard6"), timeout=5, what="a /64 ban")
        for src in attackers[2:]:
            self.offend(src, 2)
        wait_until(lambda: self.in_set("2001:db8:77::/48", "xmlrpcguard-net6"), timeout=5,
                   what="the /48 in the kernel's hash:net set")
        self.assertEqual(self.entries("xmlrpcguard-net6"), ["2001:db8:77::/48"])
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0351: prefix banned prefix=2001:db8:77::/48"), 1, log)
        self.assertIn("addresses=5 offences=12", log)
        # The table gave its slots back: no /64 of the /48 is held any more.
        report = self.status()
        self.assertEqual(self.table_holds(report, "2001:db8:77:"), [], report)
        prefixes = report["prefix_bans"]
        banned = [p for p in prefixes["bans"] if p["prefix"] == "2001:db8:77::/48"]
        self.assertEqual(len(banned), 1, prefixes)
        self.assertGreaterEqual(banned[0]["folded"], 5)
        self.assertFalse(banned[0]["httpd_only"])
        # A new /64 of that /48 never reaches the server: the kernel drops it.
        newcomer = self.add("2001:db8:77:99::10")
        stranger = self.add("2001:db8:78:1::10")
        assert_dropped_by_kernel(self, self.net, newcomer, stranger, GUARDED,
                                 set_name="xmlrpcguard-net6")
        # And httpd denies it at once too, before any handler, should the kernel not.
        before = self.status()["prefix_bans"]["denied_total"]
        self.net.run(self.net.server, ["ip6tables", "-D", "INPUT", "-m", "set", "--match-set",
                                       "xmlrpcguard-net6", "src", "-j", "DROP"])
        try:
            answer = self.post(newcomer)
            self.assertEqual(answer["status"], 403, answer)
            self.assertNotIn("methodResponse", answer["body"])  # the backend never ran
        finally:
            self.net.run(self.net.server, ["ip6tables", "-I", "INPUT", "-m", "set", "--match-set",
                                           "xmlrpcguard-net6", "src", "-j", "DROP"])
        report = self.status()
        self.assertGreater(report["prefix_bans"]["denied_total"], before)
        self.assertEqual(self.table_holds(report, "2001:db8:77:"), [], report)
        metrics = self.client.get(f"{STATUS}?metrics", VIEWER, GUARDED, host="198.18.0.1")["body"]
        self.assertRegex(metrics, r"\nxmlrpcguard_banned_prefixes [1-9]")
        html = self.client.get(STATUS, VIEWER, GUARDED, host="198.18.0.1")["body"]
        self.assertIn("<td>2001:db8:77::/48</td>", html)

    def test_an_ipv4_slash_24_botnet_ends_in_one_prefix_ban(self):
        bots = [self.add(f"198.18.7.{n}") for n in (10, 11, 12, 13)]
        for src in bots:
            self.offend(src, 3)
        wait_until(lambda: self.in_set("198.18.7.0/24", "xmlrpcguard-net"), timeout=5,
                   what="the /24 in the kernel's hash:net set")
        self.assertEqual(self.entries("xmlrpcguard-net"), ["198.18.7.0/24"])
        report = self.status()
        self.assertEqual(self.table_holds(report, "198.18.7."), [], report)
        assert_dropped_by_kernel(self, self.net, self.add("198.18.7.200"), self.add("198.18.8.200"),
                                 GUARDED, set_name="xmlrpcguard-net")

    def test_a_prefix_holding_an_ignored_address_is_never_banned(self):
        bots = [self.add(f"198.18.9.{n}") for n in (10, 11, 12, 13, 14)]
        for src in bots:
            self.offend(src, 3)
        wait_until(lambda: self.in_set(bots[-1], "xmlrpcguard"), timeout=5, what="the last ban")
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0353: prefix 198.18.9.0/24 not banned"), 1, log)
        self.assertIn("it holds the protected 198.18.9.77/32", log)
        self.assertFalse(self.in_set("198.18.9.0/24", "xmlrpcguard-net"))
        self.assertNotIn("198.18.9.0/24", [p["prefix"] for p in self.status()["prefix_bans"]["bans"]])
        self.assertGreaterEqual(self.status()["prefix_bans"]["spared_total"], 1)
        # Each bot is still banned on its own.
        for src in bots:
            self.assertTrue(self.in_set(src, "xmlrpcguard"), src)

    def test_a_prefix_ban_of_a_kernel_ban_off_vhost_stays_in_httpd(self):
        bots = [self.add(f"198.18.11.{n}") for n in (10, 11, 12, 13)]
        for src in bots:
            self.offend(src, 3, vhost=HTTPD_ONLY)
        newcomer = self.add("198.18.11.99")
        wait_until(lambda: self.post(newcomer, HTTPD_ONLY)["status"] == 403, timeout=5,
                   what="the prefix denied by httpd")
        self.assertIn("XRG0354: prefix ban 198.18.11.0/24 kept in httpd", self.server.log())
        self.assertFalse(self.in_set("198.18.11.0/24", "xmlrpcguard-net"))

    def test_detect_only_reports_a_prefix_once_and_bans_nothing(self):
        before = self.status()["prefix_bans"]["detected_total"]
        bots = [self.add(f"198.18.15.{n}") for n in (10, 11, 12, 13, 14)]
        for src in bots:
            self.offend(src, 3, vhost=DETECT)
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0352: prefix 198.18.15.0/24 would be banned"), 1, log)
        report = self.status()
        self.assertEqual(report["prefix_bans"]["detected_total"], before + 1)
        self.assertNotIn("198.18.15.0/24", [p["prefix"] for p in report["prefix_bans"]["bans"]])
        self.assertFalse(self.in_set("198.18.15.0/24", "xmlrpcguard-net"))
        self.assertEqual(self.post(self.add("198.18.15.99"), DETECT)["status"], 200)

    def test_forged_prefix_messages_are_judged_like_ban_messages(self):
        before = self.server.log()
        channel = children_channel(self.server.httpd.process.pid, self.helper_pids())
        with channel:
            channel.send(prefix_message("198.18.9.0", 24))   # holds the ignored 198.18.9.77
            channel.send(prefix_message("198.18.0.0", 24))   # holds the server's own address
            channel.send(prefix_message("127.0.0.0", 24))    # loopback
            channel.send(prefix_message("198.18.0.0", 16))   # wider than the configured /24
            channel.send(prefix_message("2001:db8::", 32))   # wider than the configured /48
            channel.send(prefix_message("198.18.12.0", 24)[:31])  # malformed
            channel.send(prefix_message("198.18.12.1", 24))  # host bits: malformed
            channel.send(prefix_message("198.18.12.0", 24))  # within every rule: obeyed
        wait_until(lambda: self.in_set("198.18.12.0/24", "xmlrpcguard-net"), timeout=5,
                   what="the well-formed prefix")
        log = self.server.log()[len(before):]
        self.assertEqual(count_lines(log, "XRG0357: prefix ban of"), 5, log)
        self.assertEqual(count_lines(log, "XRG0205: malformed message to the ban helper"), 2, log)
        for refused in ("198.18.9.0/24", "198.18.0.0/24", "127.0.0.0/24", "198.18.0.0/16"):
            self.assertFalse(self.in_set(refused.split("/")[0], "xmlrpcguard-net"), refused)
        self.assertNotIn("2001:db8::/32", self.entries("xmlrpcguard-net6"))


    def test_a_graceful_restart_keeps_prefix_bans_and_their_counts(self):
        self.assertEqual(self.ctl("ban", "198.18.16.0/24", "1h").returncode, 0)
        before = self.status()["prefix_bans"]
        self.server.graceful()
        wait_until(lambda: os.path.exists(self.socket), timeout=10, what="control socket")
        after = self.status()["prefix_bans"]
        self.assertIn("198.18.16.0/24", [p["prefix"] for p in after["bans"]])
        self.assertEqual(after["bans_total"], before["bans_total"])
        self.assertTrue(self.in_set("198.18.16.0/24", "xmlrpcguard-net"))
        self.assertEqual(self.ctl("unban", "198.18.16.0/24").returncode, 0)

    def test_prefix_bans_survive_a_full_stop_and_a_reboot_of_the_sets(self):
        self.assertEqual(self.ctl("ban", "198.18.14.0/24", "1h").returncode, 0)
        self.assertTrue(self.in_set("198.18.14.0/24", "xmlrpcguard-net"))
        log = self.server.log()
        self.client.close(self.net)
        self.server.httpd.stop()
        self.net.run(self.net.server, ["ipset", "flush", "xmlrpcguard-net"])  # as after a reboot
        generations = log.count("resuming normal operations")
        self.server.httpd.start()
        wait_until(lambda: self.server.httpd.generations() > generations, timeout=15,
                   what="apache2 start")
        self.client = Client(self.net)
        wait_until(lambda: "XRG0363: prefix bans restored" in self.server.log()[len(log):],
                   timeout=10, what="the prefix bans read back")
        wait_until(lambda: self.in_set("198.18.14.0/24", "xmlrpcguard-net"), timeout=5,
                   what="the reconcile to re-add the prefix")
        restored = [p for p in self.status()["prefix_bans"]["bans"] if p["prefix"] == "198.18.14.0/24"]
        self.assertEqual(len(restored), 1)
        self.assertEqual(restored[0]["times_banned"], 1)
        self.assertGreater(restored[0]["seconds_left"], 3000)
        wait_until(lambda: os.path.exists(self.socket), timeout=10, what="control socket")
        self.assertEqual(self.ctl("unban", "198.18.14.0/24").returncode, 0)

    def test_the_operator_lists_bans_unbans_and_flushes_prefixes(self):
        done = self.ctl("ban", "198.18.13.0/24", "10m")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertTrue(self.in_set("198.18.13.0/24", "xmlrpcguard-net"))
        self.assertIn("198.18.13.0/24", [p["prefix"] for p in self.status()["prefix_bans"]["bans"]])
        listing = self.ctl("list").stdout
        self.assertRegex(listing, r"banned-prefix 198\.18\.13\.0/24 since=\S+ until=\S+ times_banned=1")
        self.assertRegex(self.ctl("status").stdout, r"banned_prefixes [1-9]")
        done = self.ctl("unban", "198.18.13.0/24")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("ok unbanned 198.18.13.0/24", done.stdout)
        self.assertFalse(self.in_set("198.18.13.0/24", "xmlrpcguard-net"))
        self.assertNotIn("198.18.13.0/24", self.ctl("list").stdout)
        self.assertNotIn("198.18.13.0/24", [p["prefix"] for p in self.status()["prefix_bans"]["bans"]])
        # Only the configured length, and never a protected prefix.
        refused = self.ctl("ban", "198.18.0.0/16")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("not the configured /24", refused.stdout + refused.stderr)
        refused = self.ctl("ban", "198.18.9.0/24")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("198.18.9.77/32", refused.stdout + refused.stderr)
        # Flush lifts prefix bans from the table and the kernel too.
        self.assertEqual(self.ctl("ban", "2001:db8:88::/48").returncode, 0)
        self.assertTrue(self.in_set("2001:db8:88::/48", "xmlrpcguard-net6"))
        done = self.ctl("flush")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertRegex(done.stdout, r"and [1-9]\d* prefixes")
        self.assertEqual(self.entries("xmlrpcguard-net6"), [])
        self.assertEqual(self.entries("xmlrpcguard-net"), [])
        self.assertEqual(self.status()["prefix_bans"]["banned"], 0)


class PrefixConfigTest(unittest.TestCase):
    """`apache2 -t` on the prefix directives (the harness of test_configtest)."""

    def test_bad_values_are_refused_naming_directive_and_value(self):
        skip_unless_ready()
        cases = [
            ("XmlRpcGuardPrefixBan Maybe", "XmlRpcGuardPrefixBan", "Maybe"),
            ("XmlRpcGuardPrefixBanSize 8 48", "XmlRpcGuardPrefixBanSize", "'8'", "from 16 to 31"),
            ("XmlRpcGuardPrefixBanSize 24 16", "XmlRpcGuardPrefixBanSize", "'16'"),
            ("XmlRpcGuardPrefixBanSize 24", "XmlRpcGuardPrefixBanSize"),
            ("XmlRpcGuardPrefixBanSize 24 x", "XmlRpcGuardPrefixBanSize", "'x'"),
            ("XmlRpcGuardPrefixBanThreshold 1", "XmlRpcGuardPrefixBanThreshold", "'1'"),
            ("XmlRpcGuardPrefixBanThreshold 17", "XmlRpcGuardPrefixBanThreshold", "'17'"),
            ("XmlRpcGuardPrefixBanIPSet bad/name x", "XmlRpcGuardPrefixBanIPSet", "bad/name"),
            ("XmlRpcGuardPrefixBanIPSet same same", "XmlRpcGuardPrefixBanIPSet", "'same'"),
            ("XmlRpcGuardPrefixBanIPSet onlyone", "XmlRpcGuardPrefixBanIPSet", "onlyone"),
            # The IPv6 prefix must be wider than the offender keys it groups.
            ("XmlRpcGuardPrefixBan On\nXmlRpcGuardPrefixBanSize 24 64", "XmlRpcGuardPrefixBanSize",
             "'64'", "XmlRpcGuardIPv6Prefix 64"),
            ("XmlRpcGuardPrefixBan On\nXmlRpcGuardIPv6Prefix 48", "XmlRpcGuardPrefixBanSize", "'48'"),
            ("<VirtualHost *:80>\nXmlRpcGuardPrefixBanSize 24 48\n</VirtualHost>",
             "XmlRpcGuardPrefixBanSize", "VirtualHost"),
        ]
        for body, *words in cases:
            with self.subTest(body=body):
                code, output = configtest(body)
                self.assertNotEqual(code, 0, f"accepted: {body!r}")
                for word in words:
                    self.assertIn(word, output)

    def test_documented_values_are_accepted(self):
        skip_unless_ready()
        body = ("XmlRpcGuardPrefixBan On\nXmlRpcGuardPrefixBanSize 22 40\n"
                "XmlRpcGuardPrefixBanThreshold 16\nXmlRpcGuardPrefixBanIPSet none\n"
                "<VirtualHost *:80>\nXmlRpcGuardPrefixBan Off\nXmlRpcGuardPrefixBanThreshold 2\n"
                "</VirtualHost>")
        code, output = configtest(body)
        self.assertEqual(code, 0, output)
        # With prefix bans off, a wide XmlRpcGuardIPv6Prefix needs no prefix shorter than it.
        code, output = configtest("XmlRpcGuardIPv6Prefix 48")
        self.assertEqual(code, 0, output)


if __name__ == "__main__":
    unittest.main()

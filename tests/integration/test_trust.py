"""What a process running as httpd's User (on Debian also PHP-FPM's and mod_php's) can
do to the guard, tried as such a process would: nothing but what the children's
channel allows. It cannot use the control socket (flush, unban, ban), cannot stall
the ban helper with a slow control client, and cannot signal, trace or read the
helper. Commands are logged as they were parsed and executed.

The server, its sets and its DROP rule live in the test's own namespaces; the control
socket is a file in the test's work directory, owned by root and the `adm` group
(XmlRpcGuardControlGroup adm)."""

import grp
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from netns import wait_until
from test_kernel_bans import install_firewall
from xrg_harness import Client, GuardedServer, login_call, skip_unless_ready

BUILD_DIR = os.environ.get("XRG_BUILD_DIR", "")
CTL = os.path.join(BUILD_DIR, "tools", "xmlrpcguardctl")
GUARDED = "guarded.test"
ADMINS = "adm"  # a Debian group that exists on every machine


class HttpdUserAgainstTheGuard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        if not os.path.exists(CTL):
            raise RuntimeError(f"xmlrpcguardctl is not built ({CTL})")
        cls.rundir = tempfile.mkdtemp(prefix="xrg-trust-run-")
        os.chmod(cls.rundir, 0o755)
        cls.socket = os.path.join(cls.rundir, "control.sock")
        try:
            cls.server = GuardedServer("trust", "fpm", {GUARDED: "XmlRpcGuard On"},
                                       f"XmlRpcGuardControlSocket {cls.socket}\n"
                                       f"XmlRpcGuardControlGroup {ADMINS}",
                                       prepare=install_firewall)
        except BaseException:
            shutil.rmtree(cls.rundir, ignore_errors=True)
            raise
        cls.net = cls.server.net
        cls.hosts = iter(range(10, 250))
        wait_until(lambda: os.path.exists(cls.socket), timeout=10, what="control socket")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.rundir, ignore_errors=True)

    def setUp(self):
        self.client = Client(self.net)
        self.addCleanup(self.client.close, self.net)

    # -- helpers --
    def addr(self):
        address = f"198.18.4.{next(self.hosts)}"
        self.net.add_client_address(address)
        return address

    def ctl(self, *args, user=None, group=None, groups=()):
        argv = [CTL, "--socket", self.socket, *args]
        if user:
            supplementary = ["--groups=" + ",".join(groups)] if groups else ["--clear-groups"]
            argv = ["setpriv", f"--reuid={user}", f"--regid={group or user}", *supplementary,
                    *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=10)

    def as_httpd_user(self, *argv):
        return subprocess.run(["setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups",
                               *argv], capture_output=True, text=True, timeout=10)

    def in_set(self, address):
        name = "xmlrpcguard6" if ":" in address else "xmlrpcguard"
        return self.net.run(self.net.server, ["ipset", "test", name, address],
                            check=False).returncode == 0

    def offend(self, src, times=3):
        for _ in range(times):
            answer = self.client.post("/xmlrpc.php", login_call("wrong"), src, GUARDED)
            self.assertIn("<int>403</int>", answer["body"])

    def helper_pid(self):
        found = re.findall(r"XRG0204: ban helper (\d+) ready", self.server.log())
        self.assertTrue(found, "no helper start in the log")
        return int(found[-1])

    # -- the control socket --
    def test_the_httpd_user_cannot_flush_unban_or_ban(self):
        banned = self.addr()
        self.offend(banned)
        wait_until(lambda: self.in_set(banned), timeout=5, what=f"{banned} in the kernel set")
        stranger = self.addr()
        for args in (("flush",), ("unban", banned), ("ban", stranger, "1h"), ("status",)):
            # The socket's file mode keeps it out...
            plain = self.ctl(*args, user="www-data")
            self.assertEqual(plain.returncode, 3, plain.stdout + plain.stderr)
            self.assertIn("Permission denied", plain.stderr)
            # ...and with the administrators' group as well, the helper's own check.
            with_group = self.ctl(*args, user="www-data", groups=(ADMINS,))
            self.assertEqual(with_group.returncode, 1, with_group.stdout + with_group.stderr)
            self.assertIn("error: permission denied", with_group.stdout)
        uid = subprocess.run(["id", "-u", "www-data"], capture_output=True, text=True).stdout.strip()
        self.assertIn(f"XRG0216: control connection from uid {uid} refused", self.server.log())
        self.assertTrue(self.in_set(banned), "the ban was lifted")
        self.assertFalse(self.in_set(stranger), "a ban was planted")

    def test_the_servers_own_addresses_are_never_banned(self):
        for own in ("198.18.0.1", "2001:db8::1"):  # the server namespace's addresses
            done = self.ctl("ban", own, "10m")
            self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
            self.assertIn("the server's own", done.stdout)
            self.assertFalse(self.in_set(own))

    def test_a_process_of_httpds_group_is_refused_even_in_the_administrators_group(self):
        done = self.ctl("status", user="daemon", group="www-data", groups=(ADMINS,))
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("error: permission denied", done.stdout)

    def test_an_administrator_is_admitted_and_logged_by_uid(self):
        uid = subprocess.run(["id", "-u", "daemon"], capture_output=True, text=True).stdout.strip()
        target = self.addr()
        done = self.ctl("ban", target, "10m", user="daemon", group=ADMINS)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertTrue(self.in_set(target))
        lifted = self.ctl("unban", target, user="daemon", group=ADMINS)
        self.assertEqual(lifted.returncode, 0, lifted.stdout + lifted.stderr)
        self.assertFalse(self.in_set(target))
        log = self.server.log()
        self.assertIn(f"XRG0217: control (uid {uid}): ban {target} 10m -> ok banned", log)
        self.assertIn(f"XRG0217: control (uid {uid}): unban {target} -> ok", log)

    def test_a_command_is_logged_as_it_was_parsed(self):
        target = self.addr()
        # Blanks before and inside the line: executed, and logged in its parsed form.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.socket)
            s.sendall(f"  ban\t{target}   10m \n".encode())
            self.assertTrue(s.recv(4096).startswith(b"ok banned"))
        self.assertIn(f"XRG0217: control (uid 0): ban {target} 10m -> ok banned", self.server.log())
        self.assertEqual(self.ctl("unban", target).returncode, 0)

    def test_slow_control_clients_do_not_delay_a_ban(self):
        # As many clients as the helper serves at once, each sending one byte and then
        # nothing (root's, so admitted: the worst case).
        dawdlers = []
        try:
            for _ in range(8):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.socket)
                s.sendall(b"s")
                dawdlers.append(s)
            src = self.addr()
            started = time.monotonic()
            self.offend(src)
            wait_until(lambda: self.in_set(src), timeout=1.5,
                       what=f"{src} in the kernel set while 8 control clients dawdle")
            self.assertLess(time.monotonic() - started, 1.5)
            # Each is dropped at its one deadline (2 s from its connect), answered nothing.
            for s in dawdlers:
                s.settimeout(5)
                self.assertEqual(s.recv(100), b"")
        finally:
            for s in dawdlers:
                s.close()
        self.assertGreaterEqual(self.server.log().count("XRG0218: control client (uid 0) dropped"), 1)
        # And the socket serves again at once.
        self.assertEqual(self.ctl("status").returncode, 0)

    # -- the helper process --
    def test_the_httpd_user_cannot_signal_trace_or_read_the_helper(self):
        pid = self.helper_pid()
        for sig in ("TERM", "KILL", "STOP"):
            done = self.as_httpd_user("kill", f"-{sig}", str(pid))
            self.assertNotEqual(done.returncode, 0, f"kill -{sig} as www-data succeeded")
        for name in ("mem", "environ", "maps"):
            done = self.as_httpd_user("cat", f"/proc/{pid}/{name}")
            self.assertNotEqual(done.returncode, 0, f"www-data read /proc/{pid}/{name}")
        os.kill(pid, 0)  # still alive
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        self.assertRegex(status, r"\nUid:\s+0\s+0\s+0\s+0\n")
        # CAP_NET_ADMIN (bit 12) and nothing else, in effect and for good.
        self.assertIn("\nCapEff:\t0000000000001000\n", status)
        self.assertIn("\nCapBnd:\t0000000000001000\n", status)
        self.assertIn("\nNoNewPrivs:\t1\n", status)
        # And it still works: a ban after all these tries lands in the kernel.
        src = self.addr()
        self.offend(src)
        wait_until(lambda: self.in_set(src), timeout=5, what=f"{src} in the kernel set")


if __name__ == "__main__":
    unittest.main()

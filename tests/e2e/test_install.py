"""tools/install on a copy of this machine's own Apache layout, and --uninstall after it.

The suite runs in a mount namespace of its own process, in which Debian's Apache tree
is a copy (overlays on /etc/apache2, the module directory, /usr/local/sbin and
/var/lib; empty directories on /run/apache2, /run/lock/apache2 and /var/log/apache2),
with any mod_xmlrpcguard of the machine's taken out of the copy. The apache2 that
`apachectl graceful` starts there runs in the test's server namespace, so its port,
its ipsets and its DROP rules exist only there. The machine's own apache2, running or
not, and its files are left alone. Afterwards nothing of the module may be left in the
copy.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

import private_tree
from netns import TestNet, wait_until
from xrg_harness import Client, assert_dropped_by_kernel, copy_backend, login_call

SOURCE_DIR = os.environ.get("XRG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
INSTALL = os.path.join(SOURCE_DIR, "tools", "install")
PID_FILE = "/var/run/apache2/apache2.pid"
ERROR_LOG = "/var/log/apache2/error.log"
SITE = "xrg-install-test"
SITE_FILE = f"/etc/apache2/sites-available/{SITE}.conf"
LEFT_BEHIND = [
    "/usr/lib/apache2/modules/mod_xmlrpcguard.so",
    "/etc/apache2/mods-available/xmlrpcguard.load",
    "/etc/apache2/mods-available/xmlrpcguard.conf",
    "/etc/apache2/mods-enabled/xmlrpcguard.load",
    "/etc/apache2/mods-enabled/xmlrpcguard.conf",
    "/usr/local/sbin/xmlrpcguard-firewall",
    "/usr/local/sbin/xmlrpcguardctl",
    "/var/lib/xmlrpcguard/installed",
]
# Removed by httpd itself when the graceful restart that unloads the module ends the
# helper's generation: graceful is asynchronous, so it is waited for.
CONTROL_SOCKET = "/var/run/apache2/xmlrpcguard.sock"


# Copies (overlays whose upper layers live in the work directory) in the suite's own
# mount namespace (tests/lib/private_tree.py); Apache's runtime directories are empty.
OVERLAID = ["/etc/apache2", "/usr/lib/apache2/modules", "/usr/local/sbin", "/var/lib"]


def private_apache_tree(workdir):
    """Moves this process into a mount namespace of its own where the Apache layout is
    a private copy, without the machine's own module."""
    private_tree.enter(workdir, OVERLAID)
    for path in LEFT_BEHIND + [SITE_FILE]:  # a module of the machine's: not in our copy
        if os.path.lexists(path):
            os.remove(path)


def running_pid():
    try:
        with open(PID_FILE) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


class InstallSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:  # a skip fails the suite unless XRG_ALLOW_SKIPS=1
            raise unittest.SkipTest("needs root (mount and network namespaces)")
        cls.tree = tempfile.mkdtemp(prefix="xrg-install-tree-")
        private_apache_tree(cls.tree)
        # The copy starts with no apache2 of ours: the PID file is on an empty directory.
        assert running_pid() is None and not any(os.path.exists(p) for p in LEFT_BEHIND)

    @classmethod
    def tearDownClass(cls):
        private_tree.leave(OVERLAID)
        shutil.rmtree(cls.tree, ignore_errors=True)

    def test_install_guards_a_vhost_and_uninstall_leaves_nothing(self):
        net = TestNet("inst", client_addresses=("198.18.5.10", "198.18.5.11"))
        workdir = tempfile.mkdtemp(prefix="xrg-install-")
        os.chmod(workdir, 0o755)
        log_start = os.path.getsize(ERROR_LOG) if os.path.exists(ERROR_LOG) else 0
        started_pid = None
        try:
            docroot = copy_backend(workdir)
            private_tree.enable_guarded_site(SITE, SITE_FILE, docroot)
            installed = net.run(net.server, [INSTALL], check=False)
            self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
            started_pid = wait_until(running_pid, timeout=15, what="apache2 started by graceful")
            wait_until(lambda: "XRG0204" in self.log_since(log_start), timeout=15,
                       what="ban helper ready")

            client = Client(net)
            try:
                for _ in range(3):
                    answer = client.post("/xmlrpc.php", login_call("wrong"), "198.18.5.10",
                                         "guarded.test")
                    self.assertIn("<int>403</int>", answer["body"])
                wait_until(lambda: net.run(net.server, ["ipset", "test", "xmlrpcguard", "198.18.5.10"],
                                           check=False).returncode == 0,
                           timeout=5, what="kernel ban")
                assert_dropped_by_kernel(self, net, "198.18.5.10", "198.18.5.11", "guarded.test")
                # The installed control tool, on the default socket, lifts the ban.
                unban = subprocess.run(["/usr/local/sbin/xmlrpcguardctl", "unban", "198.18.5.10"],
                                       capture_output=True, text=True, timeout=10)
                self.assertEqual(unban.stdout, "ok unbanned 198.18.5.10\n", unban.stderr)
                self.assertEqual(client.get("/index.html", "198.18.5.10", "guarded.test")["status"], 200)
            finally:
                client.close(net)

            removed = net.run(net.server, [INSTALL, "--uninstall"], check=False)
            self.assertEqual(removed.returncode, 0, removed.stdout + removed.stderr)
            left = [p for p in LEFT_BEHIND if os.path.exists(p)]
            self.assertEqual(left, [])
            wait_until(lambda: not os.path.exists(CONTROL_SOCKET), timeout=15,
                       what="the control socket removed by the restart")
            self.assertNotIn("match-set", net.run(net.server, ["iptables", "-S", "INPUT"]).stdout)
            self.assertNotIn("xmlrpcguard", net.run(net.server, ["ipset", "list", "-n"]).stdout)
            # Apache goes on without the module, and its configuration is intact.
            self.assertEqual(running_pid(), started_pid)
            test = subprocess.run(["apache2ctl", "configtest"], capture_output=True, text=True)
            self.assertEqual(test.returncode, 0, test.stderr)
        finally:
            pid = running_pid()
            if pid:  # ours: the PID file is in our own empty /run/apache2
                os.kill(pid, 15)
                wait_until(lambda: running_pid() is None, timeout=15, what="apache2 stop")
            subprocess.run(["a2dissite", "-q", SITE], capture_output=True)
            if os.path.exists(SITE_FILE):
                os.remove(SITE_FILE)
            if os.path.exists("/var/lib/xmlrpcguard/installed"):
                net.run(net.server, [INSTALL, "--uninstall", "--no-reload"], check=False)
            net.close()
            shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def log_since(offset):
        try:
            with open(ERROR_LOG, errors="replace") as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return ""


if __name__ == "__main__":
    unittest.main()

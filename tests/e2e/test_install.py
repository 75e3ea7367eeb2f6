"""tools/install on this machine's own Apache layout, and --uninstall after it.

The system's apache2 (Debian's /etc/apache2 configuration) is started by
`apachectl graceful` inside the test's server namespace, so its port, its ipsets and
its DROP rules exist only there. Afterwards nothing of the module may be left.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from netns import TestNet, wait_until
from xrg_harness import Client, copy_backend, login_call

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


def running_pid():
    try:
        with open(PID_FILE) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


class InstallSuite(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        if running_pid():
            self.skipTest("the machine's own apache2 is running; not touching it")
        if any(os.path.exists(p) for p in LEFT_BEHIND):
            self.skipTest("mod_xmlrpcguard is installed on this machine already")

    def test_install_guards_a_vhost_and_uninstall_leaves_nothing(self):
        net = TestNet("inst", client_addresses=("198.18.5.10", "198.18.5.11"))
        workdir = tempfile.mkdtemp(prefix="xrg-install-")
        os.chmod(workdir, 0o755)
        log_start = os.path.getsize(ERROR_LOG) if os.path.exists(ERROR_LOG) else 0
        started_pid = None
        try:
            docroot = copy_backend(workdir)
            with open(SITE_FILE, "w") as f:
                f.write(f"""<VirtualHost *:80>
  ServerName guarded.test
  DocumentRoot {docroot}
  <Directory {docroot}>
    Require all granted
  </Directory>
  <IfModule xmlrpcguard_module>
    XmlRpcGuard On
  </IfModule>
</VirtualHost>
""")
            subprocess.run(["a2ensite", "-q", SITE], check=True)
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
                client.send(method="GET", path="/index.html", src="198.18.5.10",
                            vhost="guarded.test", timeout=1.5)
                self.assertIn("timed out", client.next_event().get("error", ""))
                self.assertEqual(client.get("/index.html", "198.18.5.11", "guarded.test")["status"], 200)
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
            if pid:  # ours: none ran before the test (setUp), and it lives in our namespace
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

"""The Debian package, as an admin meets it: tools/package builds it, `apt-get install
./...deb` installs it on this machine's apache2, a rebuilt package with a higher
version upgrades it, and `apt-get purge` leaves nothing.

Both packages are built once (setUpClass), the first with lintian, which must find
nothing. Then the suite moves into a mount namespace of its own in which /etc, /usr
and /var are overlays (their upper layers in the work directory) and /run/apache2,
/run/lock/apache2 and /var/log/apache2 are empty: apt-get and dpkg change only this
copy (the machine's package database included), and the apache2 the test starts, the
maintainer scripts' graceful reloads, the ipsets and the DROP rules all live in the
test's server network namespace. Services other than apache2 stay held back
(policy-rc.d, as on the machine). Afterwards nothing of the package may be left in
the copy: its files, the mods-enabled links, a2enmod's state, the sets, the rules,
/var/lib/apache2/xmlrpcguard, any file named after it in what the copy changed.
"""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

import private_tree as private_tree_lib
from netns import TestNet, wait_until
from xrg_harness import Client, assert_dropped_by_kernel, copy_backend, login_call

SOURCE_DIR = os.path.abspath(os.environ.get("XRG_SOURCE_DIR",
                                            os.path.join(os.path.dirname(__file__), "..", "..")))
PACKAGE_TOOL = os.path.join(SOURCE_DIR, "tools", "package")
PACKAGE = "libapache2-mod-xmlrpcguard"
PID_FILE = "/var/run/apache2/apache2.pid"
ERROR_LOG = "/var/log/apache2/error.log"
MODULE_SO = "/usr/lib/apache2/modules/mod_xmlrpcguard.so"
CONTROL_SOCKET = "/var/run/apache2/xmlrpcguard.sock"
STATE_DIR = "/var/lib/apache2/xmlrpcguard"
SITE = "xrg-package-test"
SITE_FILE = f"/etc/apache2/sites-available/{SITE}.conf"
ENABLED_LINKS = ["/etc/apache2/mods-enabled/xmlrpcguard.load",
                 "/etc/apache2/mods-enabled/xmlrpcguard.conf"]
# a2enmod's record of who enabled or disabled the module.
A2_STATE = [f"/var/lib/apache2/module/{kind}/xmlrpcguard"
            for kind in ("enabled_by_maint", "disabled_by_maint", "enabled_by_admin", "disabled_by_admin")]
# Anything of mod_xmlrpcguard the machine itself may hold (tools/install): not in our copy.
MACHINE_LEFTOVERS = [MODULE_SO, "/etc/apache2/mods-available/xmlrpcguard.load",
                     "/etc/apache2/mods-available/xmlrpcguard.conf", *ENABLED_LINKS, *A2_STATE,
                     "/usr/local/sbin/xmlrpcguard-firewall", "/usr/local/sbin/xmlrpcguardctl",
                     "/var/lib/xmlrpcguard", STATE_DIR, SITE_FILE]

OVERLAID = ["/etc", "/usr", "/var"]
# invoke-rc.d may act on apache2 only (the maintainer scripts' reloads); every other
# service stays held back, as this machine's own policy-rc.d holds them all.
POLICY_RC_D = "#!/bin/sh\n[ \"$1\" = apache2 ] && exit 0\nexit 101\n"
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        match = re.search(r"project\([^)]*VERSION\s+([0-9][0-9.]*)", f.read())
    if not match:
        raise RuntimeError("no project(VERSION ...) in CMakeLists.txt")
    return match.group(1)


def build_package(out, version=None, lintian=True):
    argv = [PACKAGE_TOOL, "--out", out] + (["--version", version] if version else [])
    argv += [] if lintian else ["--no-lintian"]
    built = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if built.returncode != 0:
        raise AssertionError(f"tools/package failed ({built.returncode}):\n"
                             f"{built.stdout[-6000:]}\n{built.stderr[-4000:]}")
    return built


def private_tree(workdir):
    """Moves this process (and all it starts) into a mount namespace of its own with
    /etc, /usr and /var as overlays and the Apache runtime directories empty, services
    held back as during an image build. Returns the overlays' upper directories (what
    the copy changed)."""
    uppers = private_tree_lib.enter(workdir, OVERLAID)
    with open("/usr/sbin/policy-rc.d", "w") as f:
        f.write(POLICY_RC_D)
    os.chmod("/usr/sbin/policy-rc.d", 0o755)
    return uppers


def remove_path(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def named_after_us(uppers):
    """Files and directories the copy gained whose name holds 'xmlrpcguard' (overlay
    whiteouts, the marks of what the copy deleted, are not)."""
    found = []
    for path, upper in uppers.items():
        for root, dirs, files in os.walk(upper):
            for name in dirs + files:
                if "xmlrpcguard" not in name:
                    continue
                full = os.path.join(root, name)
                st = os.lstat(full)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    continue  # a whiteout
                found.append(path + full[len(upper):])
    return sorted(found)


def running_pid():
    try:
        with open(PID_FILE) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def package_status():
    """dpkg's status and version of the package; "" when dpkg holds nothing of it."""
    query = subprocess.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", PACKAGE],
                           capture_output=True, text=True)
    status = query.stdout.strip() if query.returncode == 0 else ""
    return "" if "not-installed" in status else status


def maps_module(pid):
    """The inodes of mod_xmlrpcguard.so files mapped in process pid."""
    with open(f"/proc/{pid}/maps") as f:
        return {int(line.split()[4]) for line in f if "mod_xmlrpcguard.so" in line}


class PackageSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:  # a skip fails the suite unless XRG_ALLOW_SKIPS=1
            raise unittest.SkipTest("needs root (dpkg, mount and network namespaces)")
        cls.dist = tempfile.mkdtemp(prefix="xrg-package-dist-")
        os.chmod(cls.dist, 0o755)  # apt's _apt user reads the .deb files
        cls.version = project_version()
        cls.upgrade_version = cls.version + "+pkgtest1"
        # The first build as tools/package runs for a user: lintian must pass.
        cls.first_build = build_package(cls.dist)
        build_package(cls.dist, cls.upgrade_version, lintian=False)
        cls.deb = os.path.join(cls.dist, f"{PACKAGE}_{cls.version}_{cls.arch()}.deb")
        cls.upgrade_deb = os.path.join(cls.dist, f"{PACKAGE}_{cls.upgrade_version}_{cls.arch()}.deb")
        cls.tree = tempfile.mkdtemp(prefix="xrg-package-tree-")
        cls.uppers = private_tree(cls.tree)
        for path in MACHINE_LEFTOVERS:
            remove_path(path)
        assert running_pid() is None

    @classmethod
    def tearDownClass(cls):
        private_tree_lib.leave(OVERLAID)
        shutil.rmtree(getattr(cls, "tree", ""), ignore_errors=True)
        shutil.rmtree(getattr(cls, "dist", ""), ignore_errors=True)

    @staticmethod
    def arch():
        return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True,
                              text=True).stdout.strip()

    def test_build_artifacts_and_lintian(self):
        for name in (f"{PACKAGE}_{self.version}.dsc", f"{PACKAGE}_{self.version}.tar.xz",
                     os.path.basename(self.deb), os.path.basename(self.upgrade_deb)):
            self.assertTrue(os.path.exists(os.path.join(self.dist, name)), name)
        self.assertIn("==> lintian", self.first_build.stdout)
        lintian_said = self.first_build.stdout.split("==> lintian", 1)[1].split("==> built:")[0]
        self.assertEqual([line for line in lintian_said.splitlines() if re.match(r"^[EWIPX]: ", line)], [],
                         lintian_said)
        contents = subprocess.run(["dpkg-deb", "-c", self.deb], check=True, capture_output=True,
                                  text=True).stdout
        for path in ("./usr/lib/apache2/modules/mod_xmlrpcguard.so", "./usr/sbin/xmlrpcguardctl",
                     "./usr/sbin/xmlrpcguard-firewall", "./etc/apache2/mods-available/xmlrpcguard.load",
                     "./etc/apache2/mods-available/xmlrpcguard.conf",
                     "./lib/systemd/system/xmlrpcguard-firewall.service",
                     "./usr/share/man/man8/xmlrpcguardctl.8.gz", "./usr/share/man/man8/xmlrpcguard-firewall.8.gz",
                     "./usr/share/doc/libapache2-mod-xmlrpcguard/README.md.gz",
                     "./usr/share/doc/libapache2-mod-xmlrpcguard/examples/fail2ban/filter.d/xmlrpcguard.conf"):
            self.assertIn(f" {path}\n", contents)
        files = subprocess.run(["dpkg-deb", "--fsys-tarfile", self.deb], check=True, capture_output=True)
        unit = subprocess.run(["tar", "-xO", "./lib/systemd/system/xmlrpcguard-firewall.service"],
                              input=files.stdout, check=True, capture_output=True).stdout.decode()
        self.assertRegex(unit, r"(?m)^ExecStart=/usr/sbin/xmlrpcguard-firewall install$")
        control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", self.deb], check=True, capture_output=True)
        listed = subprocess.run(["tar", "-xO", "./conffiles"], input=control.stdout, check=True,
                                capture_output=True).stdout.decode().split()
        self.assertEqual(sorted(listed), ["/etc/apache2/mods-available/xmlrpcguard.conf",
                                          "/etc/apache2/mods-available/xmlrpcguard.load"])

    def test_install_ban_upgrade_purge(self):
        if package_status():  # the machine's own installation: not in our copy
            subprocess.run(["dpkg", "--purge", PACKAGE], capture_output=True, env=APT_ENV)
        self.assertEqual(package_status(), "", "the package is still installed in the copy")
        self.assertEqual(named_after_us(self.uppers), [])
        net = TestNet("pkg", client_addresses=("198.18.6.10", "198.18.6.11", "198.18.6.12"))
        workdir = tempfile.mkdtemp(prefix="xrg-package-")
        os.chmod(workdir, 0o755)
        started_pid = None
        try:
            docroot = copy_backend(workdir)
            private_tree_lib.enable_guarded_site(SITE, SITE_FILE, docroot)
            # apache2 runs before the package comes: the maintainer scripts' reload loads it.
            net.run(net.server, ["apache2ctl", "start"])
            started_pid = wait_until(running_pid, timeout=15, what="apache2 start")
            generations = wait_until(self.generations, timeout=15, what="apache2 ready")

            # --- install -------------------------------------------------------------
            self.apt(net, "install", self.deb)
            self.assertTrue(package_status().startswith("install ok installed " + self.version),
                            package_status())
            for link in ENABLED_LINKS:
                self.assertTrue(os.path.islink(link), f"{link}: the module is not enabled")
            wait_until(lambda: self.generations() > generations, timeout=15,
                       what="the graceful reload of the package's postinst")
            wait_until(lambda: "XRG0204" in self.log(), timeout=15, what="ban helper ready")
            self.assertEqual(running_pid(), started_pid, "postinst restarted apache2 instead of reloading it")
            # The guard is Off unless a vhost turns it on; the firewall is the admin's to set up.
            with open("/etc/apache2/mods-available/xmlrpcguard.conf") as f:
                self.assertRegex(f.read(), r"(?m)^\s*XmlRpcGuard Off\s*$")
            self.assertNotIn("match-set", net.run(net.server, ["iptables", "-S", "INPUT"]).stdout)
            firewall = net.run(net.server, ["/usr/sbin/xmlrpcguard-firewall", "install"], check=False)
            self.assertEqual(firewall.returncode, 0, firewall.stderr)

            client = Client(net)
            try:
                self.ban(net, client, "198.18.6.10")
                assert_dropped_by_kernel(self, net, "198.18.6.10", "198.18.6.11", "guarded.test")
            finally:
                client.close(net)
            self.assertIn("198.18.6.10", self.ctl("list"))

            # --- upgrade -------------------------------------------------------------
            generations = self.generations()
            self.apt(net, "install", self.upgrade_deb)
            self.assertTrue(package_status().startswith("install ok installed " + self.upgrade_version),
                            package_status())
            wait_until(lambda: self.generations() > generations, timeout=15,
                       what="the graceful reload of the upgrade's postinst")
            self.assertEqual(running_pid(), started_pid, "the upgrade restarted apache2 instead of reloading it")
            installed_inode = os.stat(MODULE_SO).st_ino
            wait_until(lambda: installed_inode in maps_module(started_pid), timeout=15,
                       what="apache2 to load the upgraded module")
            wait_until(lambda: "198.18.6.10" in self.ctl("list", check=False),
                       timeout=15, what="the ban helper of the new generation")
            # The ban made before the upgrade lives on in the shared table and the kernel set.
            self.assertIn("198.18.6.10", self.ctl("list"))
            self.assertEqual(net.run(net.server, ["ipset", "test", "xmlrpcguard", "198.18.6.10"],
                                     check=False).returncode, 0)
            client = Client(net)
            try:
                self.ban(net, client, "198.18.6.12")  # the upgraded module bans
                assert_dropped_by_kernel(self, net, "198.18.6.12", "198.18.6.11", "guarded.test")
            finally:
                client.close(net)
            installed = subprocess.run(["dpkg-query", "-L", PACKAGE], check=True, capture_output=True,
                                       text=True).stdout.split("\n")
            files = [p for p in installed if p and os.path.lexists(p) and not os.path.isdir(p)]
            self.assertIn(MODULE_SO, files)

            # --- purge ---------------------------------------------------------------
            self.apt(net, "purge", PACKAGE)
            self.assertEqual(package_status(), "", "dpkg still knows the package")
            self.assertEqual([p for p in files if os.path.lexists(p)], [])
            self.assertFalse(os.path.exists("/usr/share/doc/" + PACKAGE))
            self.assertEqual([p for p in ENABLED_LINKS + A2_STATE if os.path.lexists(p)], [])
            self.assertFalse(os.path.lexists(STATE_DIR))
            self.assertNotIn("match-set", net.run(net.server, ["iptables", "-S", "INPUT"]).stdout)
            self.assertNotIn("match-set", net.run(net.server, ["ip6tables", "-S", "INPUT"]).stdout)
            self.assertNotIn("xmlrpcguard", net.run(net.server, ["ipset", "list", "-n"]).stdout)
            self.assertEqual(named_after_us(self.uppers), [])
            # apache2 goes on, gracefully reloaded without the module; its configuration is intact.
            wait_until(lambda: not os.path.exists(CONTROL_SOCKET), timeout=15,
                       what="the control socket removed by the reload")
            self.assertEqual(running_pid(), started_pid)
            test = subprocess.run(["apache2ctl", "configtest"], capture_output=True, text=True)
            self.assertEqual(test.returncode, 0, test.stderr)
        finally:
            pid = running_pid()
            if pid:  # ours: the PID file is in our own empty /run/apache2
                os.kill(pid, 15)
                wait_until(lambda: running_pid() is None, timeout=15, what="apache2 stop")
            subprocess.run(["a2dissite", "-q", SITE], capture_output=True)
            remove_path(SITE_FILE)
            if package_status():
                net.run(net.server, ["dpkg", "--purge", PACKAGE], check=False, env=APT_ENV)
            net.close()
            shutil.rmtree(workdir, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------

    def apt(self, net, action, target):
        """apt-get in the server namespace, so that the maintainer scripts' reloads and
        firewall commands reach the test's apache2 and netfilter only."""
        done = net.run(net.server, ["apt-get", "-y", "-q", "--no-install-recommends", action, target],
                       check=False, env=APT_ENV, timeout=300)
        said = f"apt-get {action} {target}:\n{done.stdout}\n{done.stderr}"
        self.assertEqual(done.returncode, 0, said)
        # The maintainer scripts' own warnings, apache2-maintscript-helper's complaints.
        self.assertNotIn(f"{PACKAGE}: warning", done.stdout + done.stderr, said)
        self.assertNotIn("apache2_reload:", done.stdout + done.stderr, said)
        return done

    def ban(self, net, client, address):
        for _ in range(3):
            answer = client.post("/xmlrpc.php", login_call("wrong"), address, "guarded.test")
            self.assertIn("<int>403</int>", answer["body"])
        wait_until(lambda: net.run(net.server, ["ipset", "test", "xmlrpcguard", address],
                                   check=False).returncode == 0, timeout=5, what=f"kernel ban of {address}")
        self.assertRegex(self.log(), rf"XRG0102: ban client={re.escape(address)} ")

    def ctl(self, *args, check=True):
        """The installed xmlrpcguardctl on the default socket; its output ("" when it
        fails and check is False)."""
        done = subprocess.run(["/usr/sbin/xmlrpcguardctl", *args], capture_output=True, text=True,
                              timeout=10)
        if check:
            self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout if done.returncode == 0 else ""

    def generations(self):
        return self.log().count("resuming normal operations")

    @staticmethod
    def log():
        try:
            with open(ERROR_LOG, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


if __name__ == "__main__":
    unittest.main()

"""Shared pieces of the integration suites: the module's config, PHP-FPM, a client in
the client namespace, XML-RPC bodies, and error_log assertions."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from netns import SERVER_V4, SERVER_V6, TestNet, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND = os.path.join(HERE, "backend")
MODULE = os.environ.get("XRG_MODULE", "")
PHP_FPM = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"


def skip_unless_ready():
    """Skips (which fails the suite unless XRG_ALLOW_SKIPS=1: tests/lib/xrg_unittest.py)
    without root; a missing module is an error, never a skip."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("integration suites need root (network namespaces)")
    if not os.path.exists(MODULE):
        raise RuntimeError(f"XRG_MODULE ({MODULE!r}) does not name the built mod_xmlrpcguard.so")


# --- XML-RPC bodies ----------------------------------------------------------------

def _string(value):
    return f"<value><string>{value}</string></value>"


def call(method, *params):
    body = "".join(f"<param>{_string(p)}</param>" for p in params)
    return f'<?xml version="1.0"?><methodCall><methodName>{method}</methodName><params>{body}</params></methodCall>'


def login_call(password, user="admin"):
    return call("wp.getUsersBlogs", user, password)


def pingback(source, target="http://198.18.0.1/?p=1"):
    return call("pingback.ping", source, target)


def multicall(calls):
    entries = ""
    for method, params in calls:
        inner = "".join(_string(p) for p in params)
        entries += ("<value><struct><member><name>methodName</name>" + _string(method) + "</member>"
                    f"<member><name>params</name><value><array><data>{inner}</data></array></value>"
                    "</member></struct></value>")
    return ('<?xml version="1.0"?><methodCall><methodName>system.multicall</methodName><params><param>'
            f"<value><array><data>{entries}</data></array></value></param></params></methodCall>")


# --- PHP-FPM -----------------------------------------------------------------------

def start_php_fpm(net, workdir):
    """Our own php-fpm in the server namespace, with its own config, ended by pid."""
    socket_path = os.path.join(workdir, "php-fpm.sock")
    conf = os.path.join(workdir, "php-fpm.conf")
    with open(conf, "w") as f:
        f.write(f"""[global]
pid = {workdir}/php-fpm.pid
error_log = {workdir}/php-fpm.log
daemonize = no
[www]
user = root
group = root
listen = {socket_path}
listen.mode = 0666
pm = static
pm.max_children = 6
php_admin_value[output_buffering] = 0
php_admin_value[zlib.output_compression] = 0
php_admin_flag[log_errors] = on
""")
    process = net.start(net.server, [PHP_FPM, "-R", "-F", "-y", conf])
    wait_until(lambda: os.path.exists(socket_path) or process.poll() is not None,
               timeout=10, what="php-fpm socket")
    if process.poll() is not None:
        raise RuntimeError("php-fpm did not start: " + open(os.path.join(workdir, "php-fpm.log")).read())
    return process, socket_path


def copy_backend(workdir):
    docroot = os.path.join(workdir, "htdocs")
    shutil.copytree(BACKEND, docroot)
    flags = os.path.join(docroot, "flags")
    os.makedirs(flags, exist_ok=True)
    os.chmod(flags, 0o777)
    for root, dirs, files in os.walk(workdir):
        os.chmod(root, 0o755 if root != flags else 0o777)
    return docroot


# --- the client --------------------------------------------------------------------

class Client:
    """A client_agent.py process in the client namespace."""

    def __init__(self, net):
        self.process = net.start(net.client, [sys.executable, "-u", os.path.join(HERE, "client_agent.py")],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._read()["event"] == "ready"

    def close(self, net):
        net.stop(self.process)
        self.process.stdout.close()
        self.process.stdin.close()

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("client agent ended")
        return json.loads(line)

    def send(self, **cmd):
        cmd.setdefault("host", SERVER_V4)
        self.process.stdin.write(json.dumps(cmd) + "\n")
        self.process.stdin.flush()

    def next_event(self):
        return self._read()

    def request(self, **cmd):
        self.send(**cmd)
        result = self._read()
        if "error" in result:
            raise AssertionError(f"request failed: {result['error']}")
        return result

    def post(self, path, body, src, vhost="localhost", **extra):
        return self.request(method="POST", path=path, body=body, src=src, vhost=vhost,
                            headers={"Content-Type": "text/xml"}, **extra)

    def login(self, password, src, vhost="localhost", path="/wp-login.php"):
        form = f"log=admin&pwd={password}&wp-submit=Log+In"
        return self.request(method="POST", path=path, body=form, src=src, vhost=vhost,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def get(self, path, src, vhost="localhost", **extra):
        return self.request(method="GET", path=path, src=src, vhost=vhost, **extra)


def assert_dropped_by_kernel(test, net, banned, alive, vhost="localhost", timeout=1.5,
                             set_name=None):
    """Proves that the kernel, not a slow or hung server, keeps `banned` out: a new
    connection from it does not even open, the server namespace's DROP rule counts
    packets meanwhile (nothing else in the set is sending: each test's addresses are
    its own), and while that attempt is pending the server answers `alive` (an address
    not in the set) with 200."""
    family = 6 if ":" in banned else 4
    host = SERVER_V6 if family == 6 else SERVER_V4
    set_name = set_name or ("xmlrpcguard6" if family == 6 else "xmlrpcguard")
    test.assertEqual(net.run(net.server, ["ipset", "test", set_name, banned], check=False).returncode, 0,
                     f"{banned} is not in the kernel set {set_name}")
    test.assertNotEqual(net.run(net.server, ["ipset", "test", set_name, alive], check=False).returncode, 0,
                        f"the witness {alive} is in the kernel set {set_name}")
    before = net.drop_packets(family)
    prober, witness = Client(net), Client(net)
    try:
        prober.send(method="GET", path="/index.html", src=banned, vhost=vhost, host=host, timeout=timeout,
                    announce=True)
        # The witness must start after the banned attempt has: the DROP counter alone
        # cannot say so, as late packets of the attacker's last connections are counted too.
        test.assertEqual(prober.next_event()["event"], "started")
        wait_until(lambda: net.drop_packets(family) > before, timeout=timeout,
                   what=f"the DROP rule to count a packet of {banned}")
        answer = witness.request(method="GET", path="/index.html", src=alive, vhost=vhost, host=host,
                                 timeout=timeout)
        attempt = prober.next_event()
    finally:
        prober.close(net)
        witness.close(net)
    test.assertEqual(attempt.get("error"), "connect timed out", attempt)
    test.assertEqual(answer["status"], 200, answer)
    test.assertTrue(attempt["started"] <= answer["started"] and answer["ended"] <= attempt["ended"],
                    f"the witness was answered while the banned attempt was pending: {attempt} {answer}")


# --- the module's config -----------------------------------------------------------

def guard_config(**directives):
    """XmlRpcGuard directives, e.g. guard_config(XmlRpcGuard="On", XmlRpcGuardMaxRetry=3)."""
    lines = []
    for name, value in directives.items():
        lines.append(f"{name} {value}")
    return "\n".join(lines)


def count_lines(text, *needles):
    return sum(1 for line in text.splitlines() if all(n in line for n in needles))


# --- the server under test ---------------------------------------------------------

MODULES_DIR = "/usr/lib/apache2/modules"
PHP_MODULE = os.path.join(MODULES_DIR, "libphp8.2.so")
BACKEND_PORT = 8080  # the reverse-proxy suite's backend vhost, on loopback


def php_handler(kind, fpm_socket):
    if kind == "modphp":
        return '<FilesMatch "\\.php$">\n  SetHandler application/x-httpd-php\n</FilesMatch>'
    # flushpackets: pass what PHP flushes on at once (the streaming test needs it).
    return (f'<FilesMatch "\\.php$">\n  SetHandler "proxy:unix:{fpm_socket}|fcgi://localhost/"\n</FilesMatch>\n'
            '<Proxy "fcgi://localhost/">\n  ProxySet flushpackets=on\n</Proxy>')


def vhost_block(name, docroot, handler, guard, listen="*:80"):
    return f"""<VirtualHost {listen}>
  ServerName {name}
  DocumentRoot {docroot}
{handler}
{guard}
</VirtualHost>
"""


class GuardedServer:
    """apache2 with the built module in a TestNet's server namespace.

    kind: "fpm" (event MPM, mod_proxy_fcgi, our own PHP-FPM), "modphp" (prefork,
    mod_php), "proxy" (event MPM; the guarded vhosts reverse-proxy with
    mod_proxy_http to an unguarded backend vhost on loopback served by PHP-FPM).
    vhosts: {ServerName: guard directives}.
    """

    def __init__(self, tag, kind, vhosts, main_guard="", clients=(), prepare=None, extra_modules=()):
        self.kind = kind
        self.extra_modules = extra_modules
        self.workdir = tempfile.mkdtemp(prefix=f"xrg-{tag}-")
        os.chmod(self.workdir, 0o755)
        self.net = TestNet(tag, client_addresses=clients)
        try:
            self.docroot = copy_backend(self.workdir)
            self.fpm_socket = None
            if kind in ("fpm", "proxy"):
                self.fpm, self.fpm_socket = start_php_fpm(self.net, self.workdir)
            self.vhosts = dict(vhosts)
            self.main_guard = main_guard
            self.httpd = self._make_httpd()
            if prepare:
                prepare(self)  # e.g. firewall rules in the server namespace
            self.httpd.start()
        except BaseException:
            self.close()
            raise

    def _modules(self):
        modules = ["authz_core", "mime", "proxy", "proxy_fcgi", "proxy_http", "deflate", "filter"]
        return modules

    def site_config(self, vhosts=None, main_guard=None):
        vhosts = self.vhosts if vhosts is None else vhosts
        main_guard = self.main_guard if main_guard is None else main_guard
        handler = php_handler(self.kind, self.fpm_socket)
        parts = [f"LogLevel warn xmlrpcguard:debug",
                 # Per-user-name locks are tested by test_user_names (which turns them
                 # on per vhost); elsewhere many test addresses guess "admin" on purpose.
                 "XmlRpcGuardUsers Off",
                 f"DocumentRoot {self.docroot}",
                 f"<Directory {self.docroot}>\n  Require all granted\n  Options -Indexes\n</Directory>",
                 main_guard]
        if self.kind == "proxy":
            parts.append(f"Listen 127.0.0.1:{BACKEND_PORT}")
            parts.append(vhost_block("backend", self.docroot, handler, "", f"127.0.0.1:{BACKEND_PORT}"))
            handler = f"ProxyPass / http://127.0.0.1:{BACKEND_PORT}/\nProxyPreserveHost On"
        for name, guard in self.vhosts.items():
            parts.append(vhost_block(name, self.docroot, handler, guard))
        return "\n".join(parts) + "\n"

    def _make_httpd(self):
        return Httpd(self.net, self.workdir, self.kind, self.site_config(),
                     extra_modules=self.extra_modules)

    # -- actions --
    def log(self):
        return self.httpd.read_error_log()

    def flag(self, name):
        open(os.path.join(self.docroot, "flags", name), "w").close()

    def flag_started(self, name):
        return os.path.exists(os.path.join(self.docroot, "flags", name + ".started"))

    def graceful(self, site_config=None):
        if site_config is not None:
            self.httpd.rewrite(site_config)
        self.httpd.graceful()

    def close(self):
        httpd = getattr(self, "httpd", None)
        if httpd:
            httpd.stop()
        self.net.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Httpd:
    """apache2 with its own ServerRoot, config and error_log in a work directory, run in
    the server namespace and ended by pid; `kind` picks the MPM (modphp: prefork)."""

    def __init__(self, net, workdir, kind, site_config, load_guard=True, port=80, extra_modules=()):
        """extra_modules: (name, path of the .so) pairs loaded besides the usual ones."""
        self.net, self.workdir, self.kind = net, workdir, kind
        self.load_guard, self.port, self.extra_modules = load_guard, port, extra_modules
        self.conf = os.path.join(workdir, "httpd.conf")
        self.error_log = os.path.join(workdir, "error.log")
        self.process = None
        self._write(site_config)

    def _write(self, site_config):
        mpm = "prefork" if self.kind == "modphp" else "event"
        modules = [f"mpm_{mpm}", "authz_core", "mime", "proxy", "proxy_fcgi", "proxy_http", "filter",
                   "deflate", "env", "dir"]
        lines = [f"ServerRoot {self.workdir}", f"PidFile {self.workdir}/httpd.pid",
                 f"ErrorLog {self.error_log}", "ServerName localhost", "User www-data", "Group www-data",
                 f"Listen {SERVER_V4}:{self.port}", f"Listen [2001:db8::1]:{self.port}", "TypesConfig /etc/mime.types",
                 "MaxRequestWorkers 16" if mpm == "prefork" else "ThreadsPerChild 16"]
        lines += [f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so" for m in modules]
        if self.kind == "modphp":
            lines.append(f"LoadModule php_module {PHP_MODULE}")
        lines += [f"LoadModule {name}_module {path}" for name, path in self.extra_modules]
        if self.load_guard:
            lines.append(f"LoadModule xmlrpcguard_module {MODULE}")
            # Each server its own state file: bans must not pass from one test's server
            # to the next through the machine's default /var/lib/apache2/xmlrpcguard.
            lines.append(f"XmlRpcGuardStateFile {self.workdir}/guard.state")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + site_config)

    def configtest(self):
        return self.net.run(self.net.server, ["apache2", "-t", "-f", self.conf], check=False)

    def start(self):
        # Its own session: prefork signals its whole process group when it stops.
        self.process = self.net.start(self.net.server, ["apache2", "-f", self.conf, "-DFOREGROUND"],
                                      start_new_session=True)
        wait_until(lambda: self.generations() >= 1 or self.process.poll() is not None,
                   timeout=15, what="apache2 start")
        if self.process.poll() is not None:
            raise RuntimeError("apache2 did not start:\n" + self.read_error_log())

    def generations(self):
        return self.read_error_log().count("resuming normal operations")

    def rewrite(self, site_config):
        self._write(site_config)

    def graceful(self):
        before = self.generations()
        self.net.run(self.net.server, ["apache2", "-f", self.conf, "-k", "graceful"])
        wait_until(lambda: self.generations() > before, timeout=15, what="graceful restart")

    def stop(self):
        if self.process:
            self.net.stop(self.process)
            self.process = None

    def read_error_log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class FrontProxy:
    """A front proxy: apache2 with mod_proxy_http (no guard) in the client namespace,
    listening on an address of its own, forwarding to the server under test the way a
    remote reverse proxy or CDN does (X-Forwarded-For appended, Host kept). Each of its
    vhosts connects to the server from its own source address (ProxySourceAddress), so
    one proxy plays several proxies the server tells apart.

    routes: {ServerName: source address}. Its work directory and process are its own;
    the TestNet ends the process by pid."""

    def __init__(self, net, listen, routes, backend=SERVER_V4, timeout=3):
        self.net, self.listen = net, listen
        self.workdir = tempfile.mkdtemp(prefix="xrg-front-")
        os.chmod(self.workdir, 0o755)
        self.error_log = os.path.join(self.workdir, "error.log")
        self.conf = os.path.join(self.workdir, "httpd.conf")
        for address in [listen, *routes.values()]:
            if address not in net.client_addresses:
                net.add_client_address(address)
        lines = [f"ServerRoot {self.workdir}", f"PidFile {self.workdir}/httpd.pid",
                 f"ErrorLog {self.error_log}", "LogLevel warn", "ServerName front",
                 "User www-data", "Group www-data", f"Listen {listen}:80", "ThreadsPerChild 16"]
        lines += [f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so"
                  for m in ("mpm_event", "authz_core", "proxy", "proxy_http")]
        for name, source in routes.items():
            # connectiontimeout/timeout: an answer the server's kernel drops ends as a 5xx
            # within seconds instead of the default minute.
            lines.append(f"""<VirtualHost {listen}:80>
  ServerName {name}
  ProxyPreserveHost On
  ProxySourceAddress {source}
  ProxyPass / http://{backend}/ connectiontimeout=1 timeout={timeout}
</VirtualHost>""")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.process = net.start(net.client, ["apache2", "-f", self.conf, "-DFOREGROUND"],
                                 start_new_session=True)
        wait_until(lambda: "resuming normal operations" in self.read_error_log()
                   or self.process.poll() is not None, timeout=15, what="front proxy start")
        if self.process.poll() is not None:
            raise RuntimeError("the front proxy did not start:\n" + self.read_error_log())

    def read_error_log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def close(self):
        if self.process:
            self.net.stop(self.process)
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

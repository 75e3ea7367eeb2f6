"""The whole real stack in test namespaces: WordPress + apache2 with the guard + the
kernel's DROP rule, and clients from any test address. Used by tests/e2e and by
tools/demo. Nothing of it touches the machine's own namespace; close() ends every
process it started (by pid) and deletes the namespaces, which takes the ipsets and
firewall rules with them.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from netns import SERVER_V4, SERVER_V6, TestNet, wait_until
from wordpress_site import WordPressSite

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
FIREWALL = os.path.join(TOP, "tools", "xmlrpcguard-firewall")
AGENT = os.path.join(HERE, "wp_agent.py")
SOURCES_PORT = 8080


class Sandbox:
    def __init__(self, tag, guard, host="blog.test", clients=(), firewall=True, load_guard=True,
                 extra_php="", users=False):
        """guard: the XmlRpcGuard directives of the WordPress vhost. load_guard=False runs
        the same stack without the module (guard must then be empty); extra_php goes
        into WordPress's config file. users=False adds XmlRpcGuardUsers Off (the
        per-address suites guess "admin" from many addresses on purpose)."""
        if load_guard and not users:
            guard = guard + "\nXmlRpcGuardUsers Off"
        import xrg_harness  # needs XRG_MODULE in the environment: import late

        self.host = host
        self.workdir = tempfile.mkdtemp(prefix=f"xrg-{tag}-")
        os.chmod(self.workdir, 0o755)
        self.net = TestNet(tag, client_addresses=clients)
        self.site = self.httpd = None
        try:
            self.site = WordPressSite(self.net, self.workdir, host=host, extra_php=extra_php).start()
            self._serve_pingback_sources()
            log_level = "LogLevel warn xmlrpcguard:info" if load_guard else "LogLevel warn"
            config = log_level + "\n" + self.site.vhost(guard)
            self.httpd = xrg_harness.Httpd(self.net, self.workdir, "fpm", config, load_guard=load_guard)
            if firewall:
                self.net.run(self.net.server, [FIREWALL, "install"])
            self.httpd.start()
            wait_until(lambda: "XRG0204" in self.log() or not (firewall and load_guard), timeout=10,
                       what="ban helper ready")
        except BaseException:
            self.close()
            raise

    def _serve_pingback_sources(self):
        """A victim page that links to nothing (what forged pingbacks name) and a fan
        page that really links to the post."""
        sources = os.path.join(self.workdir, "sources")
        os.makedirs(sources)
        with open(os.path.join(sources, "victim.html"), "w") as f:
            f.write("<html><body><p>A page that links to nothing.</p></body></html>\n")
        with open(os.path.join(sources, "fan.html"), "w") as f:
            f.write(f'<html><head><title>A fan</title></head><body><a href="{self.site.post_url}">'
                    "a good post</a></body></html>\n")
        self.net.start(self.net.server, [sys.executable, "-m", "http.server", str(SOURCES_PORT),
                                         "--bind", SERVER_V4, "--directory", sources],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.net.run(self.net.server, [
            "curl", "-s", "-o", "/dev/null", f"http://{SERVER_V4}:{SOURCES_PORT}/victim.html"],
            check=False).returncode == 0, what="pingback source pages")

    # -- addresses of the pingback pages --
    @property
    def victim_url(self):
        return f"http://{SERVER_V4}:{SOURCES_PORT}/victim.html"

    @property
    def fan_url(self):
        return f"http://{SERVER_V4}:{SOURCES_PORT}/fan.html"

    # -- clients --
    def agent_argv(self, scenario, src, **options):
        host = SERVER_V6 if ":" in src else SERVER_V4
        argv = [sys.executable, "-u", AGENT, scenario, "--src", src, "--host", host,
                "--vhost", self.host]
        for name, value in options.items():
            argv += [f"--{name}", str(value)]
        return argv

    def run_agent(self, scenario, src, **options):
        """Runs a client to its end; its attempts as a list of dicts."""
        done = self.net.run(self.net.client, self.agent_argv(scenario, src, **options),
                            timeout=300)
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

    def start_agent(self, scenario, src, **options):
        """A client running in the background (stdout: its JSON lines)."""
        return self.net.start(self.net.client, self.agent_argv(scenario, src, **options),
                              stdout=subprocess.PIPE, text=True)

    def add_client(self, address):
        self.net.add_client_address(address)
        return address

    # -- what the server side shows --
    def in_set(self, address):
        name = "xmlrpcguard6" if ":" in address else "xmlrpcguard"
        return self.net.run(self.net.server, ["ipset", "test", name, address],
                            check=False).returncode == 0

    def assert_dropped_by_kernel(self, test, banned, alive, timeout=3.0):
        """Proves that the kernel, not a slow or hung server, keeps `banned` out: its new
        connection does not even open, the DROP rule in the server namespace counts
        packets meanwhile (no other address in the set is sending: each test's
        addresses are its own), and while that attempt is pending the server answers
        `alive` (not in the set)."""
        family = 6 if ":" in banned else 4
        test.assertTrue(self.in_set(banned), f"{banned} is not in the kernel set")
        test.assertFalse(self.in_set(alive), f"the witness {alive} is in the kernel set")
        before = self.net.drop_packets(family)
        prober = self.start_agent("sayhello", banned, count=1, timeout=timeout, announce=1)
        try:
            # The witness must start after the banned attempt has: the DROP counter
            # alone cannot say so, as late packets of the attacker's last connections
            # (retransmitted ACKs and FINs) are dropped and counted too.
            started = prober.stdout.readline()
            test.assertTrue(started.startswith("starting "), f"the prober did not start: {started!r}")
            wait_until(lambda: self.net.drop_packets(family) > before, timeout=timeout + 2,
                       what=f"the DROP rule to count a packet of {banned}")
            witness = self.run_agent("sayhello", alive, count=1, timeout=timeout)
            out, _ = prober.communicate(timeout=timeout + 10)
        finally:
            self.net.stop(prober)
        attempts = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        test.assertEqual([a["outcome"] for a in attempts], ["dropped"], attempts)
        test.assertEqual([w["detail"] for w in witness], ["Hello!"], witness)
        test.assertTrue(attempts[0]["t0"] <= witness[0]["t0"] and witness[0]["t"] <= attempts[0]["t"],
                        f"the witness was answered while the banned attempt was pending: {attempts} {witness}")

    def set_members(self):
        members = []
        for name in ("xmlrpcguard", "xmlrpcguard6"):
            listing = self.net.run(self.net.server, ["ipset", "list", name], check=False).stdout
            members += listing.split("Members:\n", 1)[-1].splitlines() if "Members:" in listing else []
        return [m for m in members if m.strip()]

    def log(self):
        return self.httpd.read_error_log() if self.httpd else ""

    def graceful(self):
        self.httpd.graceful()

    def close(self):
        if self.httpd:
            self.httpd.stop()
        if self.site:
            self.site.close()
        self.net.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

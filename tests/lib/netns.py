"""Test hosts in network namespaces that the tests create and delete.

A TestNet is two namespaces joined by a veth pair: "srv" (the server, 198.18.0.1 and
2001:db8::1) and "cli" (the clients, which may hold many source addresses). Only the
test ranges 198.18.0.0/15 and 2001:db8::/32 are used; nothing touches the machine's
own namespace. Processes started here are remembered by pid and ended by pid.
"""

import contextlib
import ipaddress
import os
import signal
import subprocess
import time

SERVER_V4 = "198.18.0.1"
SERVER_V6 = "2001:db8::1"
TEST_NETS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32"))


def _check_test_address(address):
    ip = ipaddress.ip_address(address)
    if not any(ip in net for net in TEST_NETS):
        raise ValueError(f"{address} is outside the test ranges 198.18.0.0/15, 2001:db8::/32")


def wait_until(condition, timeout=10.0, interval=0.02, what="condition"):
    """Polls condition() until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class TestNet:
    def __init__(self, tag, client_addresses=("198.18.1.10", "198.18.1.11")):
        # The pid leads, so that two runs of one suite (two checkouts at once) never share a
        # namespace name however long the tag is.
        self.tag = f"{os.getpid()}-{tag}"[:16]
        self.server = f"xrgs-{self.tag}"
        self.client = f"xrgc-{self.tag}"
        self.client_addresses = []
        self._processes = []
        self._created = []
        try:
            self._create()
            for address in client_addresses:
                self.add_client_address(address)
        except BaseException:
            self.close()
            raise

    def _ip(self, *args, ns=None):
        argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
        subprocess.run(argv, check=True, capture_output=True, text=True)

    def _create(self):
        for ns in (self.server, self.client):
            self._ip("netns", "add", ns)
            self._created.append(ns)
            self._ip("link", "set", "lo", "up", ns=ns)
        self._ip("link", "add", "veth-s", "netns", self.server, "type", "veth",
                 "peer", "name", "veth-c", "netns", self.client)
        self._ip("addr", "add", f"{SERVER_V4}/15", "dev", "veth-s", ns=self.server)
        self._ip("addr", "add", f"{SERVER_V6}/32", "dev", "veth-s", "nodad", ns=self.server)
        for ns, dev in ((self.server, "veth-s"), (self.client, "veth-c")):
            self._ip("link", "set", dev, "up", ns=ns)

    def add_client_address(self, address):
        _check_test_address(address)
        prefix = 15 if ipaddress.ip_address(address).version == 4 else 32
        extra = ["nodad"] if prefix == 32 else []
        self._ip("addr", "add", f"{address}/{prefix}", "dev", "veth-c", *extra, ns=self.client)
        self.client_addresses.append(address)

    def drop_packets(self, family=4):
        """Packets dropped so far by the server namespace's DROP rules that match our
        ipsets (iptables -nvxL INPUT): the kernel's own count of what it dropped.
        Fails if there is no such rule."""
        tool = "ip6tables" if family == 6 else "iptables"
        listing = self.run(self.server, [tool, "-w", "-nvxL", "INPUT"]).stdout
        rules = [line.split() for line in listing.splitlines()
                 if " DROP " in f" {line} " and "match-set" in line.split()]
        if not rules:
            raise AssertionError(f"no {tool} DROP rule on an ipset in the server namespace:\n{listing}")
        return sum(int(fields[0]) for fields in rules)

    def exec_argv(self, ns, argv):
        return ["ip", "netns", "exec", ns] + list(argv)

    def run(self, ns, argv, check=True, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.exec_argv(ns, argv), check=check, **kwargs)

    def start(self, ns, argv, **kwargs):
        """Starts a long-running process in `ns`; it is ended by pid at close()."""
        process = subprocess.Popen(self.exec_argv(ns, argv), **kwargs)
        self._processes.append(process)
        return process

    def stop(self, process, sig=signal.SIGTERM, timeout=10):
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def close(self):
        for process in reversed(self._processes):
            with contextlib.suppress(Exception):
                self.stop(process)
        self._processes.clear()
        for ns in reversed(self._created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._created.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""The demo behind tools/demo: real WordPress under attack, side by side with its users.

Brings up tests/lib/wp_sandbox.py (MariaDB, PHP-FPM, the Debian wordpress package,
apache2 with mod_xmlrpcguard and the kernel's DROP rule, all inside two network
namespaces of its own), starts five attackers, a botnet (100 addresses, each in a /24 of its own,
guessing one user name twice each) and two legitimate users at once, and
prints every attempt as it happens, then who was cut off when, the kernel set and
the module's log lines. Everything it starts is ended and deleted at the end.
"""

import argparse
import json
import os
import re
import sys
import threading
import time

from wp_checks import FailedChecks
from wp_sandbox import Sandbox

MAXRETRY = 3
USER_MAXRETRY = 10  # XmlRpcGuardUserMaxRetry's default
BOTNET = [f"198.19.{h}.8" for h in range(1, 101)]  # one address per /24, as botnets are
GUARD = f"""XmlRpcGuard On
XmlRpcGuardMaxRetry {MAXRETRY}
XmlRpcGuardFindTime 10m
XmlRpcGuardBanTime 1h"""

BOLD, RED, GREEN, DIM, RESET = "\033[1m", "\033[31m", "\033[32m", "\033[2m", "\033[0m"


class Actor:
    def __init__(self, label, src, scenario, hostile, quiet=False, **options):
        self.label, self.src, self.scenario, self.hostile = label, src, scenario, hostile
        self.quiet = quiet  # show only some of its attempts
        self.options = options
        self.events = []
        self.process = None


def actors(sandbox):
    post = sandbox.site.post_url
    return [
        Actor("password guesser", "198.18.7.10", "getusersblogs", True, count=20, pause=0.2),
        # WordPress takes seconds for 500 calls while the botnet runs: a patient client.
        Actor("multicall, 500 guesses each", "198.18.7.11", "multicall", True, count=5, size=500,
              timeout=10),
        Actor("forged pingbacks", "198.18.7.12", "pingback", True, count=10,
              source=sandbox.victim_url, target=post),
        Actor("wp-login.php guesser", "198.18.7.13", "login", True, count=20, pause=0.2),
        Actor("IPv6 guesser", "2001:db8:7::10", "getusersblogs", True, count=20, pause=0.2),
        # A dictionary attack spread over 100 addresses, two guesses each (below maxretry).
        Actor("botnet: 100 addresses x 2 guesses", BOTNET[0], "botnet", True, quiet=True,
              count=2, srcs=",".join(BOTNET), user="admin"),
        Actor("the blog's owner (right password)", "198.18.7.50", "getusersblogs", False, count=20,
              pause=0.3, password=sandbox.site.admin_password, timeout=5),
        # WordPress fetches the source page before it answers a pingback: a patient client.
        Actor("a real pingback, then its retries", "198.18.7.51", "pingback", False, count=4,
              pause=0.5, source=sandbox.fan_url, target=post, timeout=10),
    ]


class Show:
    def __init__(self, color):
        self.color = color
        self.lock = threading.Lock()
        self.t0 = None

    def paint(self, code, text):
        return f"{code}{text}{RESET}" if self.color else text

    def say(self, text=""):
        with self.lock:
            print(text, flush=True)

    def heading(self, text):
        self.say()
        self.say(self.paint(BOLD, f"== {text}"))

    def describe(self, event):
        outcome, detail = event["outcome"], event["detail"]
        if outcome == "answered":
            meaning = {"fault 403": "wrong password", "fault 0": "forged pingback refused",
                       "fault 48": "already registered, never punished",
                       "login_error": "login page says wrong password"}.get(detail)
            return f"answered: {detail}" + (f"  ({meaning})" if meaning else "")
        if outcome == "denied":
            return self.paint(RED, "403 from httpd: banned, the answer was withheld")
        if outcome == "dropped":
            return self.paint(RED, "no answer: the kernel drops its packets")
        if detail.startswith("read timed out"):
            # For an attacker: connected a moment before its kernel ban landed.
            return self.paint(RED, "no answer in time (connected, then nothing)")
        return f"error: {detail}"

    def event(self, actor, event):
        if self.t0 is None:
            self.t0 = event["t"]
        who = f"{actor.label} [{actor.src}]"
        self.say(f"{event['t'] - self.t0:7.2f}s  {who:<52} #{event['n']:<3} {self.describe(event)}")


def follow(actor, show):
    for line in actor.process.stdout:
        if line.startswith("{"):
            event = json.loads(line)
            actor.events.append(event)
            if not actor.quiet or event["n"] <= 3 or event["n"] % 50 == 0:
                show.event(actor, event)


def botnet_summary(actor, checks, show):
    reached = checks.count(BOTNET)
    verdict = (show.paint(GREEN, "stopped") if reached <= USER_MAXRETRY + 3
               else show.paint(RED, "NOT stopped"))
    return (f"{len(actor.events)} guesses, {reached} password checks reached WordPress "
            f"(its own wp_login_failed count); the name was locked after "
            f"{USER_MAXRETRY} failures, the rest answered by the guard: {verdict}")


def summary(actor, show):
    answered = [e for e in actor.events if e["outcome"] == "answered"]
    if not actor.hostile:
        ok = not any(e["outcome"] in ("denied", "dropped") for e in actor.events)
        verdict = show.paint(GREEN, "never blocked") if ok else show.paint(RED, "BLOCKED")
        details = sorted({e["detail"] for e in answered})
        return f"{len(answered)} of {len(actor.events)} calls answered ({', '.join(details)}): {verdict}"
    first_refused = next((e for e in actor.events if e["outcome"] != "answered"), None)
    if first_refused is None:
        return show.paint(RED, f"{len(answered)} answers read, never cut off")
    offences = sum(int(m.group(1)) if (m := re.match(r"(\d+) faults", e["detail"])) else 1
                   for e in answered)
    refused = len(actor.events) - len(answered)
    banned_at = answered[-1]["t"] - show.t0 if answered else 0.0
    return (f"read {len(answered)} answer{'s' if len(answered) != 1 else ''} ({offences} failed "
            f"attempt{'s' if offences != 1 else ''}), banned at {banned_at:.2f}s with the last one; "
            f"{refused} attempt{'s' if refused != 1 else ''} since, none answered")


def poke_help(sandbox):
    net = sandbox.net
    return f"""
The sandbox stays up. From another root shell:
  ip netns exec {net.server} ipset list xmlrpcguard          # the kernel set
  ip netns exec {net.server} iptables -S INPUT               # the one DROP rule
  tail -f {sandbox.httpd.error_log}    # the module's log
  ip netns exec {net.client} curl -s -H 'Host: {sandbox.host}' http://198.18.0.1/xmlrpc.php \\
      -d '<methodCall><methodName>wp.getUsersBlogs</methodName><params><param><value>admin</value></param><param><value>nope</value></param></params></methodCall>' \\
      --interface 198.18.7.60        # a new attacker: run it {MAXRETRY + 1} times
  The blog's admin password is {sandbox.site.admin_password}; from {net.client} it is
  http://{sandbox.host}/ at 198.18.0.1 (curl --resolve {sandbox.host}:80:198.18.0.1 ...).
Press Enter (or Ctrl-C) to tear it all down."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true",
                        help="keep the sandbox up at the end, until Enter or Ctrl-C")
    args = parser.parse_args()
    show = Show(color=sys.stdout.isatty())

    show.heading("Bringing up the sandbox: MariaDB, PHP-FPM, WordPress, apache2 + mod_xmlrpcguard")
    started = time.monotonic()
    checks = FailedChecks()
    sandbox = Sandbox("demo", GUARD, clients=("198.18.7.60",), extra_php=checks.extra_php,
                      users=True)
    try:
        show.say(f"ready in {time.monotonic() - started:.1f}s: http://{sandbox.host}/ on 198.18.0.1 "
                 f"(namespace {sandbox.net.server}), guard: maxretry {MAXRETRY}, findtime 10m, "
                 "bantime 1h; the firewall rule: "
                 + sandbox.net.run(sandbox.net.server, ["iptables", "-S", "INPUT"]).stdout
                 .strip().splitlines()[-1])
        cast = actors(sandbox)
        for actor in cast:
            sandbox.add_client(actor.src)
        for address in BOTNET[1:]:
            sandbox.add_client(address)
        # The owner logged in from home yesterday: that address is trusted for admin.
        sandbox.run_agent("getusersblogs", "198.18.7.50", count=1,
                          password=sandbox.site.admin_password, timeout=30)

        show.heading("Five attackers, a botnet and two legitimate users, all at once")
        for actor in cast:
            actor.process = sandbox.start_agent(actor.scenario, actor.src, **actor.options)
        readers = [threading.Thread(target=follow, args=(actor, show)) for actor in cast]
        for reader in readers:
            reader.start()
        for actor in cast:
            actor.process.wait(timeout=300)
        for reader in readers:
            reader.join()

        show.heading("Who got what")
        for actor in cast:
            said = botnet_summary(actor, checks, show) if actor.quiet else summary(actor, show)
            show.say(f"  {actor.label + ' [' + actor.src + ']':<52} {said}")

        show.heading("The kernel set (ipset list, inside the server's namespace)")
        for member in sandbox.set_members():
            show.say(f"  {member}")

        show.heading("The module's log lines (error_log)")
        botnet_lines = {}  # the botnet's lines: the first three of each id, then a count
        for line in sandbox.log().splitlines():
            if "XRG0" not in line:
                continue
            if "client=198.19." in line:
                line_id = re.search(r"XRG\d+", line).group(0)
                botnet_lines[line_id] = botnet_lines.get(line_id, 0) + 1
                if botnet_lines[line_id] > 3:
                    continue
            show.say("  " + re.sub(r"^\[[^]]*\] ", "", line))
        for line_id, n in sorted(botnet_lines.items()):
            if n > 3:
                show.say(f"  ... and {n - 3} more {line_id} lines of the botnet")

        if args.keep:
            show.say(poke_help(sandbox))
            try:
                input()
            except (EOFError, KeyboardInterrupt):
                pass
    finally:
        show.heading("Tearing the sandbox down")
        sandbox.close()
        show.say("done: every process ended, namespaces (and their firewall rules) deleted")
    botnet_ok = checks.count(BOTNET) <= USER_MAXRETRY + 3
    checks.close()
    hostile_ok = botnet_ok and all(a.events and a.events[-1]["outcome"] != "answered"
                                   for a in cast if a.hostile and not a.quiet)
    friendly_ok = all(not any(e["outcome"] in ("denied", "dropped") for e in a.events)
                      for a in cast if not a.hostile)
    return 0 if hostile_ok and friendly_ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""A distributed dictionary attack on real WordPress: how many password checks reach
WordPress, with the per-user-name features off and on.

Two sandboxes in turn (tests/lib/wp_sandbox.py: the Debian `wordpress` package on
MariaDB and PHP-FPM, apache2 with the module, the DROP rule), each with WordPress's own
count of failed password checks (a must-use plugin counting `wp_login_failed`,
tests/lib/wp_checks.py):
  A  XmlRpcGuard On, XmlRpcGuardUsers Off (the address windows alone, maxretry 3);
  B  XmlRpcGuard On with the defaults (XmlRpcGuardUsers On, UserMaxRetry 10).
The blog's owner logs in once from its own address; then `addresses` bots guess
`admin`'s password `per_address` times each through XML-RPC (each below maxretry), and
a second botnet does the same through wp-login.php; then the owner calls five times.
Prints Markdown rows: attempts, checks that reached WordPress, bans, the owner's answers.
"""

import argparse
import sys
import time

from wp_checks import FailedChecks
from wp_sandbox import Sandbox

GUARDS = {
    "A (XmlRpcGuardUsers Off)": "XmlRpcGuard On\nXmlRpcGuardMaxRetry 3\nXmlRpcGuardUsers Off",
    "B (XmlRpcGuardUsers On, defaults)": "XmlRpcGuard On\nXmlRpcGuardMaxRetry 3",
}


def run(label, guard, addresses, per_address):
    checks = FailedChecks()
    sandbox = Sandbox("bb" + label[0].lower(), guard, extra_php=checks.extra_php, users=True)
    try:
        owner = sandbox.add_client("198.18.9.1")
        password = sandbox.site.admin_password
        first = sandbox.run_agent("getusersblogs", owner, count=1, password=password, timeout=30)
        assert [e["detail"] for e in first] == ["ok"], first
        row = {}
        for door, scenario, block in (("xmlrpc.php", "botnet", 12), ("wp-login.php", "botnet_login", 14)):
            bots = [sandbox.add_client(f"198.19.{1 + i % 250}.{block + i // 250}")  # a /24 each
                    for i in range(addresses)]
            before, started = checks.count(), time.monotonic()
            events = sandbox.run_agent(scenario, bots[0], srcs=",".join(bots), count=per_address,
                                       user="admin", timeout=10)
            row[door] = (len(events), checks.count() - before, time.monotonic() - started)
            print(f"{label} {door}: {row[door]}", file=sys.stderr)
        calls = sandbox.run_agent("getusersblogs", owner, count=5, password=password)
        owner_ok = sum(e["detail"] == "ok" for e in calls)
        bans = len(sandbox.set_members())
        return row, owner_ok, bans
    finally:
        sandbox.close()
        checks.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=200)
    parser.add_argument("--per-address", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="ignored: counts, not timings")
    args = parser.parse_args()
    print(f"{args.addresses} addresses, {args.per_address} wrong passwords each for `admin`, "
          "per door; the owner logged in once before from its own address.\n")
    print("| sandbox | door | attempts | password checks that reached WordPress | "
          "attack took | bans | owner's 5 calls after |")
    print("|---|---|---|---|---|---|---|")
    for label, guard in GUARDS.items():
        row, owner_ok, bans = run(label, guard, args.addresses, args.per_address)
        for door, (attempts, reached, took) in row.items():
            print(f"| {label} | {door} | {attempts} | {reached} | {took:.1f} s | {bans} | "
                  f"{owner_ok} ok |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

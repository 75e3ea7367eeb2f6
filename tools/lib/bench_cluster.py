"""Several servers (XmlRpcGuardCluster): three apache2 nodes and one redis-server in
namespaces of their own (the integration suite's Fleet, tests/integration/test_cluster.py).

1. Cross-node ban latency: an attacker offends on node C, then B, and the answer that
   completes maxretry comes from node A; a poller inside the server namespace asks node
   B's kernel set (one `ipset -` session, every half millisecond) until it holds the
   address. The time from the end of A's answer (client side) to that moment; median,
   p99, max over --rounds runs, each from a fresh address.
2. A fast round-robin attacker (back-to-back requests over A, B, C): the offending
   answers it reads before every node denies it.
3. tools/benchmarks/bench_cluster_link: the request thread's cost per offending answer
   (one 40-byte datagram) and the offences/s one helper sustains to Redis.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

from netns import wait_until
from test_cluster import MAXRETRY, PASSWORD, PORTS, REDIS_PORT, VHOST, Fleet
from xrg_harness import Client, login_call

POLLER = r"""
import subprocess, sys, time
ipset_set, address, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
session = subprocess.Popen(["ipset", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, bufsize=1)
print("ready", flush=True)
found = "timeout"
while time.monotonic() < deadline:
    session.stdin.write(f"test {ipset_set} {address}\n")
    session.stdin.flush()
    if " is in set " in session.stderr.readline():
        found = f"{time.monotonic():.6f}"
        break
    time.sleep(0.0005)
print(found, flush=True)
session.stdin.close()
session.wait()
"""


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def offend(client, index, src):
    answer = client.post("/xmlrpc.php", login_call("wrong"), src, VHOST, port=PORTS[index])
    return answer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--bench-program", default=os.path.join(
        os.environ.get("XRG_BUILD", "build/bench"), "tools", "benchmarks", "bench_cluster_link"))
    parser.add_argument("--offences", type=int, default=100000)
    args = parser.parse_args()
    fleet = Fleet()
    net = fleet.net
    try:
        hosts = iter((a, b) for a in range(20, 120) for b in range(10, 250))
        viewer = "198.18.5.9"
        net.add_client_address(viewer)
        client = Client(net)
        wait_until(lambda: all(
            '"cluster":"cluster: connected since' in client.get("/guard-status?json", viewer, VHOST,
                                                                 port=PORTS[i])["body"]
            for i in range(3)), timeout=20, what="every node connected")

        def fresh():
            a, b = next(hosts)
            address = f"198.18.{a}.{b}"
            net.add_client_address(address)
            return address

        latencies, misses = [], 0
        for _ in range(args.rounds):
            attacker = fresh()
            for index in (2, 1):  # C, then B: two offences in the fleet's window
                offend(client, index, attacker)
            poller = net.start(net.server, [sys.executable, "-c", POLLER, "xrgnode1", attacker, "5"],
                               stdout=subprocess.PIPE, text=True)
            assert poller.stdout.readline().strip() == "ready"
            answer = offend(client, 0, attacker)  # A: maxretry reached in the fleet
            found = poller.stdout.readline().strip()
            poller.wait(10)
            if found == "timeout":
                misses += 1
                continue
            latencies.append((float(found) - answer["ended"]) * 1000)
        print("| cross-node ban: end of the offending answer on node A -> address in node B's "
              "kernel set | median ms | p99 ms | max ms | runs |")
        print("|---|---:|---:|---:|---:|")
        print(f"| 3 nodes, 1 redis-server, one namespace | {statistics.median(latencies):.2f} | "
              f"{percentile(latencies, 99):.2f} | {max(latencies):.2f} | {len(latencies)} "
              f"({misses} missed) |")

        reads = []
        for _ in range(max(5, args.rounds // 5)):
            attacker = fresh()
            read, denied = 0, set()
            for turn in range(60):
                index = turn % 3
                answer = offend(client, index, attacker)
                if answer["status"] == 403:
                    denied.add(index)
                    if len(denied) == 3:
                        break
                elif "<int>403</int>" in answer["body"]:
                    read += 1
            reads.append(read)
        print()
        print("| fast round-robin attacker (back-to-back requests over 3 nodes, maxretry "
              f"{MAXRETRY}) | offending answers read, median | max | runs |")
        print("|---|---:|---:|---:|")
        print(f"| until all three deny | {statistics.median(reads):g} | {max(reads)} | {len(reads)} |")
        client.close(net)

        print()
        sys.stdout.flush()
        subprocess.run([args.bench_program, "channel"], check=True)
        sys.stdout.flush()
        net.run(net.server, [args.bench_program, "redis", "127.0.0.1", str(REDIS_PORT), PASSWORD,
                             str(args.offences), "3"], check=True, capture_output=False)
    finally:
        fleet.close()


if __name__ == "__main__":
    main()

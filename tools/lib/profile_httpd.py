"""Where the guard's CPU goes per request: a perf profile of apache2 under wrk.

Instances as in tools/lib/bench_httpd.py (same site, same fixed-answer handler, the
same 221-byte wp.getUsersBlogs POST): A without the module, B with `XmlRpcGuard On`
(XRG_MODULE), and with --before-module a B0 that loads another build of the module
the same way (the commit before a change). Round after round (the order rotating),
wrk loads one instance alone for --seconds while `perf record -e cpu-clock -g`
samples every one of its processes (hardware counters are not available in the VM).
Each symbol's samples become microseconds per request (samples / frequency /
requests); the tables are what B (and B0) spend beyond A, by library and for the
guard's own symbols.

  XRG_MODULE=build/release/mod_xmlrpcguard/httpd/mod_xmlrpcguard.so \\
  PYTHONPATH=tests/lib:tests/integration python3 tools/lib/profile_httpd.py \\
    --fixed-answer-module $PWD/build/release/tools/benchmarks/mod_xrg_fixed_answer.so \\
    [--before-module OLD/mod_xmlrpcguard.so] [--path /page.html]
"""

import argparse
import collections
import os
import re
import signal
import subprocess
import sys

from bench_httpd import prepare_workdir, site, tear_down, wait_for_instances, wrk
from netns import SERVER_V4, TestNet

FREQUENCY = 4000


def pids_of(parent):
    pids = [parent]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def samples_by_symbol(data):
    """{(dso, symbol): samples} of one perf.data, self time only."""
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-n", "-g", "none",
                          "--sort", "dso,sym", "--percent-limit", "0"],
                         capture_output=True, text=True, check=True).stdout
    counts = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(\S+)\s+\[.\]\s+(.*\S)", line)
        if m:
            counts[(m.group(2), m.group(3))] += int(m.group(1))
    return counts


def group(dso, symbol):
    if "xmlrpcguard" in dso:
        return "mod_xmlrpcguard.so"
    if "libxml2" in dso:
        return "libxml2"
    if symbol in ("malloc", "free", "cfree", "_int_malloc", "_int_free", "malloc_consolidate",
                  "__libc_malloc", "__libc_free", "tcache_init", "_int_realloc", "realloc") or \
            "malloc" in symbol or "_int_free" in symbol:
        return "malloc / free"
    if symbol.startswith("__tls_get_addr") or symbol == "update_get_addr":
        return "__tls_get_addr"
    if "kernel" in dso:
        return "kernel"
    if dso.startswith("libc"):
        return "the rest of libc"
    if dso.startswith("libapr") or dso in ("apache2", "httpd"):
        return "httpd and APR"
    return "other (" + dso + ")"


def main():
    import xrg_harness

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixed-answer-module", required=True)
    parser.add_argument("--before-module", help="another mod_xmlrpcguard.so, loaded by instance B0")
    parser.add_argument("--path", default="/xmlrpc.php", help="/xmlrpc.php (POST) or /page.html")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--min-us", type=float, default=0.02,
                        help="list the guard's and libxml2's symbols from this many us (below 0.02: "
                             "libc's from 0.01 too)")
    args = parser.parse_args()

    workdir, docroot, script = prepare_workdir("xrg-profile-httpd-")
    lua = script if args.path == "/xmlrpc.php" else None

    # label -> (port, server lines, guard lines, load XRG_MODULE, extra modules)
    fixed = ("xrg_fixed_answer", args.fixed_answer_module)
    instances = {"A": (8081, "", "", False, [fixed]), "B": (8082, "", "XmlRpcGuard On", True, [fixed])}
    if args.before_module:
        instances["B0"] = (8084, f"XmlRpcGuardStateFile {workdir}/8084/guard.state\n", "XmlRpcGuard On",
                           False, [fixed, ("xmlrpcguard", args.before_module)])

    net = TestNet("prof", client_addresses=("198.18.1.10",))
    servers = {}
    try:
        for label, (port, server, guard, load_guard, extra) in instances.items():
            instance_dir = os.path.join(workdir, str(port))
            os.makedirs(instance_dir)
            os.chmod(instance_dir, 0o755)
            httpd = xrg_harness.Httpd(net, instance_dir, "fpm", server + site(docroot, port, guard),
                                      load_guard=load_guard, port=port, extra_modules=extra)
            httpd.start()
            servers[label] = httpd
        wait_for_instances(net, [port for port, *_ in instances.values()])
        samples = {label: collections.Counter() for label in instances}
        requests = dict.fromkeys(instances, 0)
        order = list(instances)
        for label in order:  # warm-up
            wrk(net, f"http://{SERVER_V4}:{instances[label][0]}{args.path}", 2, args.connections, lua)
        for round_number in range(args.rounds):
            for label in order:
                data = os.path.join(workdir, f"{label}-{round_number}.data")
                pids = ",".join(map(str, pids_of(servers[label].process.pid)))
                perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY),
                                         "-g", "-o", data, "-p", pids],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    _, done = wrk(net, f"http://{SERVER_V4}:{instances[label][0]}{args.path}",
                                  args.seconds, args.connections, lua)
                finally:
                    perf.send_signal(signal.SIGINT)
                    perf.wait(timeout=60)
                requests[label] += done
                samples[label] += samples_by_symbol(data)
                os.unlink(data)
            order = order[1:] + order[:1]

        us = {label: {key: n * 1e6 / FREQUENCY / requests[label] for key, n in samples[label].items()}
              for label in instances}
        guarded = [label for label in instances if label != "A"]
        print(f"\nperf record -e cpu-clock -F {FREQUENCY} -g, {args.rounds} rounds x {args.seconds} s per "
              f"instance, wrk -t2 -c{args.connections}, {args.path}; requests: " +
              ", ".join(f"{label} {requests[label]:,}" for label in instances) + "\n")
        groups = {label: collections.Counter() for label in instances}
        for label in instances:
            for (dso, symbol), value in us[label].items():
                groups[label][group(dso, symbol)] += value
        names = sorted(set().union(*groups.values()), key=lambda g: -max(
            groups[label][g] - groups["A"][g] for label in guarded))
        print("| us of CPU per request | A | " + " | ".join(f"{label} | {label} - A" for label in guarded) + " |")
        print("|---|---:|" + "---:|---:|" * len(guarded))
        for name in names + ["total"]:
            def value(label):
                return sum(groups[label].values()) if name == "total" else groups[label][name]
            print(f"| {name} | {value('A'):.2f} | " +
                  " | ".join(f"{value(label):.2f} | {value(label) - value('A'):+.2f}" for label in guarded) + " |")
        for label in guarded:
            print(f"\n{label} - A, the 25 symbols of any library that grew most, us per request\n")
            print("| symbol | library | A | " + label + " | difference |\n|---|---|---:|---:|---:|")
            keys = sorted(set(us[label]) | set(us["A"]),
                          key=lambda k: us["A"].get(k, 0) - us[label].get(k, 0))[:25]
            for dso, symbol in keys:
                a, b = us["A"].get((dso, symbol), 0), us[label].get((dso, symbol), 0)
                print(f"| `{symbol[:90]}` | {dso} | {a:.2f} | {b:.2f} | {b - a:+.2f} |")
        for label in guarded:
            print(f"\n{label}: the guard's own symbols and libxml2's, us per request (at least {args.min_us})\n")
            print("| symbol | library | us |\n|---|---|---:|")

            def listed(dso, value):
                if "xmlrpcguard" in dso or "libxml2" in dso:
                    return value >= args.min_us
                return args.min_us < 0.02 and dso.startswith("libc") and value >= 0.01
            mine = sorted(((value, dso, symbol) for (dso, symbol), value in us[label].items()
                           if listed(dso, value)), reverse=True)
            for value, dso, symbol in mine:
                print(f"| `{symbol[:90]}` | {dso} | {value:.{2 if args.min_us >= 0.02 else 3}f} |")
    finally:
        tear_down(servers.values(), net, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

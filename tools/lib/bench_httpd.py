"""What the guard costs httpd, measured with wrk, side by side in one run.

Three apache2 instances in one test namespace, identical but for a line or two: A
does not load mod_xmlrpcguard, B loads it with `XmlRpcGuard On` on the vhost, C too
but with the XML-RPC path pointed elsewhere (the ban lookup alone). wrk runs from the
client namespace against A, B and C in turn, round after round:
  1. a static file (ordinary traffic: what every request pays);
  2. a WordPress-sized XML-RPC POST to a handler that reads the body and answers a
     fixed success (tools/benchmarks/mod_xrg_fixed_answer.cpp): both scanners run on
     every request, and PHP's own cost does not hide ours.
Prints Markdown rows: requests/s median and min-max for each, and B/A; then the CPU
time each instance's processes spent per request (user and system, from /proc), which
says where a difference in requests/s comes from.
"""

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile

from netns import SERVER_V4, TestNet, wait_until

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(TOP, "tests", "fixtures")
PORTS = {"without the module": 8081, "with XmlRpcGuard On": 8082,
         "guard On, XML-RPC path not guarded": 8083}
# What each instance adds to the vhost (C shows the cost of the module minus the
# scanning: every request still pays the ban lookup).
GUARDS = {8081: "", 8082: "XmlRpcGuard On",
          8083: "XmlRpcGuard On\n  XmlRpcGuardXmlRpcPath not-this.php"}


def site(docroot, port, guard):
    # A fixed set of children: the event MPM retiring an idle one mid-round closes its
    # keep-alive connections under wrk, which is noise, not a cost of either instance.
    return f"""StartServers 4
MinSpareThreads 32
MaxSpareThreads 256
<VirtualHost *:{port}>
  ServerName bench.test
  DocumentRoot {docroot}
  <Location /xmlrpc.php>
    SetHandler xrg-fixed-answer
  </Location>
  {guard}
</VirtualHost>
"""


def wrk(net, url, seconds, connections, script=None):
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", "Host: bench.test", url]
    if script:
        argv[1:1] = ["-s", script]
    out = net.run(net.client, argv, timeout=seconds + 30).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    # A connection cut at the very end of a run is wrk's, and the event MPM closes idle
    # keep-alive connections when its workers are all busy (wrk may have just sent on
    # one): about 1 in 1,000 here, for every instance alike. Any non-2xx answer fails.
    if "Non-2xx or 3xx responses" in out or errors > requests / 100:
        raise RuntimeError("wrk saw errors:\n" + out)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), requests


def prepare_workdir(prefix):
    """A work directory with the static page and wrk's POST script (the 221-byte
    wp.getUsersBlogs); returns (workdir, docroot, script)."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    os.chmod(workdir, 0o755)
    docroot = os.path.join(workdir, "htdocs")
    os.makedirs(docroot)
    with open(os.path.join(docroot, "page.html"), "w") as f:
        f.write("<html><body>" + "<p>An ordinary page of a blog.</p>\n" * 120 + "</body></html>\n")
    with open(os.path.join(FIXTURES, "getusersblogs-badpass.request.xml")) as f:
        body = f.read()
    script = os.path.join(workdir, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "text/xml"\n'
                f"wrk.body = [[{body}]]\n")
    os.chmod(script, 0o644)
    return workdir, docroot, script


def wait_for_instances(net, ports):
    for port in ports:
        wait_until(lambda: net.run(net.client, ["curl", "-sf", "-o", "/dev/null", "-H", "Host: bench.test",
                                                f"http://{SERVER_V4}:{port}/page.html"],
                                   check=False).returncode == 0, what="httpd answers")


def tear_down(servers, net, workdir):
    for httpd in servers:
        httpd.stop()
    net.close()
    shutil.rmtree(workdir, ignore_errors=True)


def cpu_seconds(parent_pid):
    """(user, system) CPU seconds of an httpd: its parent and every process it forked
    (the children, and the ban helper), alive ones only, which is all of them
    during a round."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # fields[0] is the state (stat's third field): ppid is stat's 4th, utime 14th, stime 15th.
        if int(entry) == parent_pid or int(fields[1]) == parent_pid:
            user += int(fields[11])
            system += int(fields[12])
    return user / tick, system / tick


def main():
    import xrg_harness  # needs XRG_MODULE: import late

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixed-answer-module", required=True, help="built mod_xrg_fixed_answer.so")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    workdir, docroot, script = prepare_workdir("xrg-bench-httpd-")

    net = TestNet("bench", client_addresses=("198.18.1.10",))
    servers = []
    try:
        extra = [("xrg_fixed_answer", args.fixed_answer_module)]
        for label, port in PORTS.items():
            guarded = bool(GUARDS[port])
            instance_dir = os.path.join(workdir, str(port))
            os.makedirs(instance_dir)
            os.chmod(instance_dir, 0o755)
            httpd = xrg_harness.Httpd(net, instance_dir, "fpm",
                                      site(docroot, port, GUARDS[port]),
                                      load_guard=guarded, port=port, extra_modules=extra)
            httpd.start()
            servers.append(httpd)
        wait_for_instances(net, PORTS.values())

        print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds, A, B and C in rotating order; "
              "requests/s\n")
        print("| traffic | A: without the module, median (min-max) | B: XmlRpcGuard On, median (min-max) "
              "| B/A | C: guard On, path not guarded | C/A |")
        print("|---|---:|---:|---:|---:|---:|")
        cpu = {}  # traffic -> instance -> [(user, system) us per request, per round]
        for name, path, lua in (("static file, 4.3 KB", "/page.html", None),
                                ("XML-RPC POST wp.getUsersBlogs (221 B) to a fixed 646 B answer",
                                 "/xmlrpc.php", script)):
            results = {label: [] for label in PORTS}
            cpu[name] = {label: [] for label in PORTS}
            for label, port in PORTS.items():  # warm-up, not counted
                wrk(net, f"http://{SERVER_V4}:{port}{path}", 2, args.connections, lua)
            order = list(zip(PORTS.items(), servers))
            for _ in range(args.rounds):
                for (label, port), httpd in order:
                    before = cpu_seconds(httpd.process.pid)
                    rate, requests = wrk(net, f"http://{SERVER_V4}:{port}{path}", args.seconds,
                                         args.connections, lua)
                    after = cpu_seconds(httpd.process.pid)
                    results[label].append(rate)
                    cpu[name][label].append(tuple((end - start) * 1e6 / requests
                                                  for start, end in zip(before, after)))
                order = order[1:] + order[:1]  # each instance takes each place in turn
            a, b, c = (results[label] for label in PORTS)
            print(f"| {name} | {statistics.median(a):,.0f} ({min(a):,.0f}-{max(a):,.0f}) "
                  f"| {statistics.median(b):,.0f} ({min(b):,.0f}-{max(b):,.0f}) "
                  f"| {statistics.median(b) / statistics.median(a):.3f} "
                  f"| {statistics.median(c):,.0f} ({min(c):,.0f}-{max(c):,.0f}) "
                  f"| {statistics.median(c) / statistics.median(a):.3f} |", flush=True)
        print("\nhttpd CPU time per request, us (all of the instance's processes, from /proc; "
              "medians over the rounds above)\n")
        print("| traffic | A: user / system | B: user / system | B - A | C: user / system | C - A |")
        print("|---|---:|---:|---:|---:|---:|")
        without, guarded, unguarded_path = PORTS
        for name, by_label in cpu.items():
            user, system = ({label: statistics.median(r[i] for r in rounds) for label, rounds in by_label.items()}
                            for i in (0, 1))
            cell = lambda label: f"{user[label]:.1f} / {system[label]:.1f}"
            diff = lambda label: f"{user[label] - user[without]:+.1f} / {system[label] - system[without]:+.1f}"
            print(f"| {name} | {cell(without)} | {cell(guarded)} | {diff(guarded)} "
                  f"| {cell(unguarded_path)} | {diff(unguarded_path)} |", flush=True)
        guarded_log = servers[1].read_error_log()  # B
        offences = guarded_log.count("XRG0101")
        print(f"\n(the guarded instance logged {offences} offences: the fixed answer is a success)")
        if offences:
            return 1
    finally:
        tear_down(servers, net, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

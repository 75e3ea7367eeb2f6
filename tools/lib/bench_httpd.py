"""What the guard costs httpd, measured with wrk, side by side in one run.

Three apache2 instances in one test namespace, identical but for a line or two: A
does not load mod_xmlrpcguard, B loads it with `XmlRpcGuard On` on the vhost, C too
but with the XML-RPC path pointed elsewhere (the ban lookup alone). wrk runs from the
client namespace against A, B and C in turn, round after round:
  1. a static file (ordinary traffic: what every request pays);
  2. a WordPress-sized XML-RPC POST to a handler that reads the body and answers a
     fixed success (tools/benchmarks/mod_xrg_fixed_answer.cpp): both scanners run on
     every request, and PHP's own cost does not hide ours.
Prints Markdown rows: requests/s median and min-max for each, and B/A.
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
    return f"""<VirtualHost *:{port}>
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
    # A connection or two cut at the very end of a run is wrk's, not the server's.
    if "Non-2xx or 3xx responses" in out or errors > requests / 1000:
        raise RuntimeError("wrk saw errors:\n" + out)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    import xrg_harness  # needs XRG_MODULE: import late

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixed-answer-module", required=True, help="built mod_xrg_fixed_answer.so")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="xrg-bench-httpd-")
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
        for port in PORTS.values():
            wait_until(lambda: net.run(net.client, ["curl", "-sf", "-o", "/dev/null", "-H", "Host: bench.test",
                                                    f"http://{SERVER_V4}:{port}/page.html"],
                                       check=False).returncode == 0, what="httpd answers")

        print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds, A, B and C in rotating order; "
              "requests/s\n")
        print("| traffic | A: without the module, median (min-max) | B: XmlRpcGuard On, median (min-max) "
              "| B/A | C: guard On, path not guarded | C/A |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, path, lua in (("static file, 4.3 KB", "/page.html", None),
                                ("XML-RPC POST wp.getUsersBlogs (221 B) to a fixed 646 B answer",
                                 "/xmlrpc.php", script)):
            results = {label: [] for label in PORTS}
            for label, port in PORTS.items():  # warm-up, not counted
                wrk(net, f"http://{SERVER_V4}:{port}{path}", 2, args.connections, lua)
            order = list(PORTS.items())
            for _ in range(args.rounds):
                for label, port in order:
                    results[label].append(wrk(net, f"http://{SERVER_V4}:{port}{path}", args.seconds,
                                              args.connections, lua))
                order = order[1:] + order[:1]  # each instance takes each place in turn
            a, b, c = (results[label] for label in PORTS)
            print(f"| {name} | {statistics.median(a):,.0f} ({min(a):,.0f}-{max(a):,.0f}) "
                  f"| {statistics.median(b):,.0f} ({min(b):,.0f}-{max(b):,.0f}) "
                  f"| {statistics.median(b) / statistics.median(a):.3f} "
                  f"| {statistics.median(c):,.0f} ({min(c):,.0f}-{max(c):,.0f}) "
                  f"| {statistics.median(c) / statistics.median(a):.3f} |", flush=True)
        guarded_log = servers[1].read_error_log()  # B
        offences = guarded_log.count("XRG0101")
        print(f"\n(the guarded instance logged {offences} offences: the fixed answer is a success)")
        if offences:
            return 1
    finally:
        for httpd in servers:
            httpd.stop()
        net.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sends one request body as it is, byte for byte, from a chosen source address, COUNT
times over new connections, and prints one JSON line per attempt:
  {"n", "outcome": answered|denied|dropped|stalled|error, "status", "encoding",
   "faults": [fault codes in the answer, in order]}
Run inside a client namespace by tests/e2e/test_wordpress_parity.py. An answer that
came compressed is inflated before its faults are read."""
import argparse
import gzip
import http.client
import json
import re
import socket
import sys

FAULT_CODE = re.compile(rb"<name>faultCode</name>\s*<value>\s*<int>(-?\d+)</int>")


def attempt(args, body):
    connection = http.client.HTTPConnection(args.host, 80, timeout=args.connect_timeout,
                                            source_address=(args.src, 0))
    try:
        try:
            connection.connect()
        except (socket.timeout, TimeoutError):
            return {"outcome": "dropped"}
        connection.sock.settimeout(args.timeout)
        headers = {"Host": args.vhost, "Content-Type": "text/xml"}
        if args.accept_encoding:
            headers["Accept-Encoding"] = args.accept_encoding
        connection.request("POST", args.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        encoding = answer.getheader("Content-Encoding", "")
        if encoding == "gzip":
            data = gzip.decompress(data)
        if answer.status == 403:
            return {"outcome": "denied", "status": 403}
        faults = [int(code) for code in FAULT_CODE.findall(data)]
        return {"outcome": "answered", "status": answer.status, "encoding": encoding,
                "faults": faults}
    except (socket.timeout, TimeoutError):
        # Connected, then nothing: the kernel ban landed while this one was opening.
        return {"outcome": "stalled"}
    except OSError as e:
        return {"outcome": "error", "detail": f"{type(e).__name__}: {e}"}
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--vhost", required=True)
    parser.add_argument("--path", default="/xmlrpc.php")
    parser.add_argument("--body", required=True, help="a file holding the body")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--connect-timeout", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=3.0, help="for the answer")
    parser.add_argument("--accept-encoding", default="")
    args = parser.parse_args()
    with open(args.body, "rb") as f:
        body = f.read()
    for n in range(1, min(args.count, 50) + 1):
        print(json.dumps(dict(attempt(args, body), n=n)), flush=True)


if __name__ == "__main__":
    sys.exit(main())

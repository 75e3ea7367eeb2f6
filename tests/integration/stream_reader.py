"""Posts one XML-RPC body from a chosen source address and reads the answer as it
streams, up to --bytes bytes or --seconds seconds, whichever comes first; prints one
JSON line: {"status", "first_byte_after", "bytes", "seconds"}. Run inside a client
namespace by test_streaming.py. Bounded in bytes and time; stops by itself."""
import argparse
import json
import socket
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--vhost", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--bytes", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    body = (b"<?xml version=\"1.0\"?><methodCall><methodName>demo.sayHello</methodName>"
            b"</methodCall>")
    head = (f"POST {args.path} HTTP/1.1\r\nHost: {args.vhost}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    started = time.monotonic()
    sock = socket.create_connection((args.host, 80), timeout=10, source_address=(args.src, 0))
    sock.sendall(head + body)
    got, first, status = 0, None, None
    buffer = b""
    while got < args.bytes and time.monotonic() - started < args.seconds:
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        if first is None:
            first = time.monotonic() - started
        if status is None:
            buffer += chunk
            if b"\r\n" in buffer:
                status = int(buffer.split(b" ", 2)[1])
        got += len(chunk)
    sock.close()
    print(json.dumps({"status": status, "first_byte_after": first, "bytes": got,
                      "seconds": time.monotonic() - started}), flush=True)


if __name__ == "__main__":
    main()

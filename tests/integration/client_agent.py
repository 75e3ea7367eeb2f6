"""HTTP client that runs inside the client namespace: one JSON command per stdin line,
one JSON result per stdout line. Raw sockets, so the tests control the bytes: source
address, chunked bodies in tiny pieces, and a report the moment the first body bytes
of an answer arrive (to prove streaming).

Command: {"src", "host", "port", "method", "path", "headers", "body",
          "chunk_size" (send the body chunked in pieces of this size),
          "report_first" (print {"event": "first", ...} when the first body bytes arrive)}
Result:  {"status", "headers", "body"} or {"error"}, with "started" and "ended"
         (time.monotonic(), the same clock in every namespace). A connection that does
         not open in time is the error "connect timed out"; one that opened and then
         got no answer in time is "read timed out" (a hung server, not a kernel drop).
"""

import json
import socket
import sys
import time


def send_request(sock, cmd):
    body = cmd.get("body", "").encode()
    headers = {"Host": cmd.get("vhost", "localhost"), "Connection": "close"}
    headers.update(cmd.get("headers", {}))
    chunk_size = cmd.get("chunk_size")
    if chunk_size:
        headers["Transfer-Encoding"] = "chunked"
    elif cmd.get("method", "GET") == "POST" or body:
        headers["Content-Length"] = str(len(body))
    head = f"{cmd.get('method', 'GET')} {cmd['path']} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    if not chunk_size:
        sock.sendall(body)
        return
    pause = cmd.get("pause_ms", 0) / 1000.0
    for i in range(0, len(body), chunk_size):
        piece = body[i:i + chunk_size]
        sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        if pause:
            time.sleep(pause)  # pacing, so the server reads the body in many pieces
    sock.sendall(b"0\r\n\r\n")


def decode_chunked(data):
    out, pos = b"", 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return out
        out += data[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


def request(cmd, emit):
    family = socket.AF_INET6 if ":" in cmd["host"] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(cmd.get("timeout", 15))
        if cmd.get("src"):
            sock.bind((cmd["src"], 0))
        try:
            sock.connect((cmd["host"], cmd.get("port", 80)))
        except TimeoutError:
            raise ConnectTimeout("connect timed out") from None
        try:
            return read_answer(sock, cmd, emit)
        except TimeoutError:
            raise ReadTimeout("read timed out") from None


class ConnectTimeout(Exception):
    pass


class ReadTimeout(Exception):
    pass


def read_answer(sock, cmd, emit):
    send_request(sock, cmd)
    data = b""
    header_end = -1
    reported = False
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if header_end < 0:
            header_end = data.find(b"\r\n\r\n")
        if cmd.get("report_first") and not reported and header_end >= 0 and len(data) > header_end + 4:
            reported = True
            emit({"event": "first", "status": int(data.split(b" ", 2)[1]),
                  "bytes": data[header_end + 4:].decode("latin-1")})
    head, _, raw_body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw_body = decode_chunked(raw_body)
    return {"status": status, "headers": headers, "body": raw_body.decode("latin-1")}


def main():
    def emit(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    emit({"event": "ready"})
    for line in sys.stdin:
        cmd = json.loads(line)
        started = time.monotonic()
        if cmd.get("announce"):
            emit({"event": "started", "started": started})
        try:
            result = request(cmd, emit)
        except (ConnectTimeout, ReadTimeout) as e:
            result = {"error": str(e)}
        except Exception as e:  # reported to the test, which fails on it
            result = {"error": f"{type(e).__name__}: {e}"}
        result.update(event="done", started=started, ended=time.monotonic())
        emit(result)


if __name__ == "__main__":
    main()

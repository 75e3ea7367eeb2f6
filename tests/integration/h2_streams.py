"""One HTTP/2 connection (h2c, prior knowledge) from a chosen source address: stream A
posts a body to a path whose answer the backend holds; after A has ended (or was
reset), stream B asks for another path on the SAME connection. Prints "sent" once A is
sent (the test then acts), and at the end one JSON line:
  {"a": {"status", "reset", "fault_read"}, "b": {"status"}, "connection_closed"}
Run by test_http2.py with Debian's python3 (python3-h2). Bounded: 30 s per read."""
import argparse
import json
import socket

import h2.config
import h2.connection
import h2.events


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--authority", required=True)
    parser.add_argument("--held-path", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--other-path", required=True)
    args = parser.parse_args()
    with open(args.body, "rb") as f:
        body = f.read()
    sock = socket.create_connection((args.host, 80), timeout=30, source_address=(args.src, 0))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    streams = {}
    closed = False

    def request(method, path, payload=b""):
        stream = conn.get_next_available_stream_id()
        headers = [(":method", method), (":authority", args.authority), (":scheme", "http"),
                   (":path", path)]
        if payload:
            headers += [("content-type", "text/xml"), ("content-length", str(len(payload)))]
        conn.send_headers(stream, headers, end_stream=not payload)
        if payload:
            conn.send_data(stream, payload, end_stream=True)
        sock.sendall(conn.data_to_send())
        streams[stream] = {"status": None, "reset": None, "data": b"", "done": False}
        return stream

    def until_done(stream):
        nonlocal closed
        while not streams[stream]["done"] and not closed:
            data = sock.recv(65536)
            if not data:
                closed = True
                break
            for event in conn.receive_data(data):
                record = streams.get(getattr(event, "stream_id", None))
                if isinstance(event, h2.events.ResponseReceived):
                    record["status"] = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    record["data"] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    record["done"] = True
                elif isinstance(event, h2.events.StreamReset):
                    record["reset"], record["done"] = int(event.error_code), True
                elif isinstance(event, h2.events.ConnectionTerminated):
                    closed = True
            sock.sendall(conn.data_to_send())

    a = request("POST", args.held_path, body)
    print("sent", flush=True)
    until_done(a)
    b = request("GET", args.other_path) if not closed else None
    if b is not None:
        until_done(b)
    print(json.dumps({
        "a": {"status": streams[a]["status"], "reset": streams[a]["reset"],
              "fault_read": b"faultCode" in streams[a]["data"]},
        "b": {"status": streams[b]["status"] if b is not None else None},
        "connection_closed": closed}), flush=True)
    sock.close()


if __name__ == "__main__":
    main()

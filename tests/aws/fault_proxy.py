#!/usr/bin/env python3
"""A loopback HTTP proxy in front of a KMS endpoint (moto's server) that injects
faults, for dekbox's retry and error-mapping tests.

    fault_proxy.py --port 0 --upstream http://127.0.0.1:5000 --port-file F

Control endpoints (on the proxy itself):
    POST /__fault   {"throttle": 0.3, "error500": 0.1, "drop": 0.1,
                     "respond": "DisabledException" | null, "seed": 7,
                     "delay": 1.5,   (seconds before each forwarded call)
                     "mode": "half" | "content_type" | "garbage" | "endless"
                             | "reset" | "redirect" | "other_key" | null,
                     "other_key": ARN (for other_key: the key the request is
                                   sent to instead),
                     "count": n}     (respond/mode/delay apply to the next n
                                      calls only; absent: to every call)

Modes: "half" answers with half the body its Content-Length announces and
closes; "content_type" forwards with Content-Type text/html; "garbage" is a
200 with a body that is not JSON; "endless" a 200 whose chunked body never
ends; "reset" sends half the body and resets the connection (RST);
"redirect" a 307 to another address; "other_key" forwards the call with its
KeyId replaced by another key's, so the answer is that key's ciphertext.
    POST /__reset   clear faults and counters
    GET  /__stats   {"forwarded": {"TrentService.Decrypt": 1, ...},
                     "received": {...}, "faults": {"throttle": n, ...}}

"forwarded" counts the calls that reached the upstream server, by
X-Amz-Target. Injected error bodies are the ones AWS KMS sends.
"""

import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {}

# Bodies as AWS KMS sends them (JSON 1.1 protocol).
KMS_ERRORS = {
    "ThrottlingException": (400, "Rate exceeded"),
    "DisabledException": (400, "arn:aws:kms:us-east-1:123456789012:key/abc is disabled."),
    "KMSInvalidStateException": (
        400,
        "arn:aws:kms:us-east-1:123456789012:key/abc is pending deletion.",
    ),
    "KMSInternalException": (500, "An internal error has occurred."),
    "AccessDeniedException": (400, "User is not authorized to perform: kms:Decrypt"),
    "NotFoundException": (400, "Key 'arn:aws:kms:us-east-1:123456789012:key/abc' does not exist"),
    # A client clock off by more than five minutes.
    "InvalidSignatureException": (
        400,
        "Signature expired: 20250101T000000Z is now earlier than 20250101T000500Z (20250101T001000Z - 5 min.)",
    ),
    "RequestExpired": (400, "Request has expired."),
}


def reset():
    with LOCK:
        STATE.clear()
        STATE.update(
            throttle=0.0,
            error500=0.0,
            drop=0.0,
            delay=0.0,
            respond=None,
            mode=None,
            other_key=None,
            count=None,
            rng=random.Random(1),
            forwarded={},
            received={},
            faults={},
        )


def bump(table, key):
    STATE[table][key] = STATE[table].get(key, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def _reply(self, status, body, content_type="application/x-amz-json-1.1"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/__stats":
            with LOCK:
                out = {k: STATE[k] for k in ("forwarded", "received", "faults")}
            return self._reply(200, out, "application/json")
        return self._forward(b"")

    def do_PUT(self):
        return self._forward(self._body())

    def do_POST(self):
        body = self._body()
        if self.path == "/__reset":
            reset()
            return self._reply(200, {"ok": True}, "application/json")
        if self.path == "/__fault":
            cfg = json.loads(body or b"{}")
            with LOCK:
                for k in ("throttle", "error500", "drop", "delay"):
                    STATE[k] = float(cfg.get(k, 0.0))
                STATE["respond"] = cfg.get("respond")
                STATE["mode"] = cfg.get("mode")
                STATE["other_key"] = cfg.get("other_key")
                STATE["count"] = cfg.get("count")
                STATE["rng"] = random.Random(cfg.get("seed", 1))
            return self._reply(200, {"ok": True}, "application/json")
        return self._forward(body)

    def _forward(self, body):
        target = self.headers.get("X-Amz-Target", "-")
        with LOCK:
            bump("received", target)
            respond, mode, delay = STATE["respond"], STATE["mode"], STATE["delay"]
            if STATE["count"] is not None:
                if STATE["count"] <= 0:
                    respond, mode, delay = None, None, 0.0
                elif respond or mode or delay:
                    STATE["count"] -= 1
            roll = STATE["rng"].random()
            throttle, error500, drop = STATE["throttle"], STATE["error500"], STATE["drop"]
            other_key = STATE["other_key"]
        if respond:
            status, message = KMS_ERRORS[respond]
            with LOCK:
                bump("faults", respond)
            return self._reply(status, {"__type": respond, "message": message})
        if roll < drop:
            with LOCK:
                bump("faults", "drop")
            # Close without answering: the client sees a broken connection.
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if roll < drop + throttle:
            with LOCK:
                bump("faults", "throttle")
            return self._reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        if roll < drop + throttle + error500:
            with LOCK:
                bump("faults", "error500")
            return self._reply(500, {"__type": "KMSInternalException", "message": "An internal error has occurred."})
        if delay:
            time.sleep(delay)
        if mode:
            with LOCK:
                bump("faults", mode)
        if mode == "garbage":
            return self._reply(200, b"<html>upstream says hello</html>")
        if mode == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"A" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                return
        if mode == "other_key" and other_key:
            req = json.loads(body or b"{}")
            if "KeyId" in req:
                req["KeyId"] = other_key
                body = json.dumps(req).encode()
        up = urllib.parse.urlparse(self.server.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in ("connection", "content-length"):
                conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        with LOCK:
            bump("forwarded", target)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "content-length", "transfer-encoding", "server", "date",
                                 "content-type"):
                self.send_header(k, v)
        self.send_header("Content-Type", "text/html" if mode == "content_type"
                         else resp.getheader("Content-Type", "application/x-amz-json-1.1"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        conn.close()
        if mode in ("half", "reset"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            if mode == "reset":
                # SO_LINGER 0: close with a RST instead of a FIN.
                import socket
                import struct
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            return
        self.wfile.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file")
    args = ap.parse_args()
    reset()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.upstream = args.upstream
    server.daemon_threads = True
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()

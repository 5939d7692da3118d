#!/usr/bin/env python3
"""The example backend for examples/browser: it holds the key (here a local
key; in production an aws-kms:// key and the KMS credentials), seals a note
with dekbox for Python, and hands the page the note's message key so the page
opens it with dekbox-browser. The page seals a reply under a fresh message key
and posts it back; the server opens it.

    python3 server.py --pkg node_modules/dekbox-browser/dist [--port 8000]

Serves on 127.0.0.1 only. The message key is a secret: serve pages over TLS
in production, and hand a key out only for a context the user may read.
"""

import argparse
import http.server
import json
import mimetypes
import os
import pathlib
import sys

import dekbox

HERE = pathlib.Path(__file__).resolve().parent

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--pkg", required=True, help="dekbox-browser's dist/ directory")
parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
parser.add_argument("--key", default=os.environ.get("DEKBOX_KEY"), help="key URI (default: DEKBOX_KEY)")
args = parser.parse_args()

if not args.key:
    sys.exit("give --key local:///path/to/key (dekbox keygen makes one) or set DEKBOX_KEY")
box = dekbox.Box(args.key)
PKG = pathlib.Path(args.pkg).resolve()

# One user's note: the context names whose data this is, the aad which row.
CONTEXT = {"user": "42"}
NOTE = box.encrypt("Meet at the north gate at seven.", context=CONTEXT, aad=b"notes/1", text=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):  # quiet
        pass

    def send(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def static(self, root, rel):
        path = (root / rel).resolve()
        if root not in path.parents or not path.is_file():
            return self.send(404, {"error": "not found"})
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".wasm":
            ctype = "application/wasm"
        self.send(200, path.read_bytes(), ctype)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            return self.static(HERE, "index.html")
        if path.startswith("/pkg/"):
            return self.static(PKG, path[len("/pkg/"):])
        if path == "/api/note":
            # The note and the key that opens it, for this user only.
            key = box.message_data_key(NOTE, context=CONTEXT)
            return self.send(200, {"message": NOTE, "context": CONTEXT, "aad": "notes/1", "key": key})
        if path == "/api/upload-key":
            key = box.new_message_data_key(context=CONTEXT)
            return self.send(200, {"context": CONTEXT, "aad": "notes/2", "key": key})
        return self.static(HERE, path.lstrip("/"))

    def do_POST(self):
        if self.path != "/api/notes":
            return self.send(404, {"error": "not found"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        try:
            text = box.decrypt(body["message"], context=CONTEXT, aad=b"notes/2").decode()
        except dekbox.Error as e:
            return self.send(400, {"error": type(e).__name__})
        return self.send(200, {"read": text})


server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print(f"listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass

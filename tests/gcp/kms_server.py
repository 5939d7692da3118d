#!/usr/bin/env python3
"""A loopback Google Cloud KMS for tests: there is no official emulator.

It serves the REST v1 surface dekbox and Google's own `google-cloud-kms`
client use, with Cloud KMS's semantics (tests/gcp/test_faithful.py runs the
official client against it to prove it):

- key rings, symmetric (ENCRYPT_DECRYPT) crypto keys and their versions:
  create, get, add a version, make it primary, disable / enable (PATCH
  with updateMask=state), destroy;
- `:encrypt` (a key, using its primary, or an explicit version) and
  `:decrypt` (always the key: the ciphertext names its version), with real
  AES-256-GCM per version, the additional authenticated data bound, and the
  CRC32C integrity fields (requests' checksums verified, `verified*` flags
  and answer checksums set) computed with Google's `google-crc32c`;
- google.rpc errors: UNAUTHENTICATED (no, unknown or expired bearer token),
  PERMISSION_DENIED (a token without access), NOT_FOUND, FAILED_PRECONDITION
  (disabled or destroyed versions), INVALID_ARGUMENT (bad ciphertext, wrong
  key or aad, checksum mismatches);
- an OAuth token endpoint (`POST /token`) for service accounts: the RS256
  signature of the JWT assertion is checked with the public key registered
  for its issuer, as are its audience, scope and lifetime; refresh-token
  grants for registered users;
- the GCE metadata server's root (the probe) and token path
  (Metadata-Flavor: Google).

Test controls live under `/_test/`: register service accounts and tokens,
inject faults (a corrupted checksum, an error status; for one method and
one key, `count` times), read the captured
requests and counters. Listens on 127.0.0.1 only.
"""

import argparse
import base64
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import google_crc32c
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCOPE = "https://www.googleapis.com/auth/cloudkms"
MAX_DATA = 64 * 1024
# Ciphertext: version tag (16) || nonce (12) || AES-GCM output.
TAG_LEN = 16


def crc(data: bytes) -> int:
    return google_crc32c.value(data)


class RpcError(Exception):
    def __init__(self, http: int, status: str, message: str):
        super().__init__(message)
        self.http, self.status, self.message = http, status, message


def invalid(msg):
    return RpcError(400, "INVALID_ARGUMENT", msg)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.rings = set()
        self.keys = {}  # name -> {"versions": {n: version}, "primary": n, "created": ...}
        self.tags = {}  # tag -> (key name, version number)
        # bearer token -> {"expires": epoch or None, "allow": bool}
        self.tokens = {"test-token": {"expires": None, "allow": True}}
        self.service_accounts = {}  # email -> public key
        self.users = {}  # refresh token -> (client_id, client_secret)
        self.token_lifetime = 3600
        self.token_delay = 0.0
        self.faults = []  # [{"kind": ..., "count": n, ...}]
        self.requests = []
        self.counts = {"token": 0, "metadata": 0, "encrypt": 0, "decrypt": 0}

    def issue(self, lifetime=None, email=None):
        token = "ya29.test-" + secrets.token_urlsafe(24)
        lifetime = self.token_lifetime if lifetime is None else lifetime
        self.tokens[token] = {"expires": time.time() + lifetime, "allow": True, "email": email}
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def take_fault(self, method, resource):
        for f in self.faults:
            if (f.get("method", method) == method and f.get("resource", "") in resource + "/"
                    and f["count"] > 0):
                f["count"] -= 1
                return f
        return None


STATE = State()


def b64d(value, field):
    try:
        return base64.b64decode(value or "", validate=True)
    except Exception:
        raise invalid(f"Invalid value at '{field}' (TYPE_BYTES), Base64 decoding failed")


def int64(body, field):
    v = body.get(field)
    if v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise invalid(f"Invalid value at '{field}' (TYPE_INT64)")


def check_crc(body, data, field, crc_field):
    want = int64(body, crc_field)
    if want is None:
        return False
    if want != crc(data):
        snake = "".join("_" + c.lower() if c.isupper() else c for c in crc_field)
        data_snake = "".join("_" + c.lower() if c.isupper() else c for c in field)
        raise invalid(f"The checksum in field {snake} did not match the data in field {data_snake}.")
    return True


def version_json(key, n, v):
    return {
        "name": f"{key}/cryptoKeyVersions/{n}",
        "state": v["state"],
        "protectionLevel": "SOFTWARE",
        "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
        "createTime": v["created"],
    }


def key_json(name):
    k = STATE.keys[name]
    out = {
        "name": name,
        "purpose": "ENCRYPT_DECRYPT",
        "createTime": k["created"],
        "versionTemplate": {"protectionLevel": "SOFTWARE", "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
    }
    if k["primary"] is not None:
        out["primary"] = version_json(name, k["primary"], k["versions"][k["primary"]])
    return out


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def new_version(name):
    k = STATE.keys[name]
    n = max(k["versions"], default=0) + 1
    tag = secrets.token_bytes(TAG_LEN)
    k["versions"][n] = {"state": "ENABLED", "material": AESGCM.generate_key(256), "tag": tag, "created": now_rfc3339()}
    STATE.tags[tag] = (name, n)
    return n


def usable(name, n, v):
    if v["state"] != "ENABLED":
        raise RpcError(400, "FAILED_PRECONDITION",
                       f"{name}/cryptoKeyVersions/{n} is not enabled, current state is: {v['state']}.")


def split_key(path):
    """projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V] -> (key, version or None)"""
    parts = path.split("/")
    if len(parts) == 8 and parts[6] == "cryptoKeys":
        return path, None
    if len(parts) == 10 and parts[8] == "cryptoKeyVersions":
        try:
            return "/".join(parts[:8]), int(parts[9])
        except ValueError:
            raise invalid("bad version")
    raise RpcError(404, "NOT_FOUND", f"{path} not found.")


def encrypt(resource, body):
    key, pinned = split_key(resource)
    if key not in STATE.keys:
        raise RpcError(404, "NOT_FOUND", f"{key} not found.")
    k = STATE.keys[key]
    n = pinned if pinned is not None else k["primary"]
    if n is None or n not in k["versions"]:
        raise RpcError(404, "NOT_FOUND", f"{resource} not found.")
    v = k["versions"][n]
    usable(key, n, v)
    pt = b64d(body.get("plaintext"), "plaintext")
    aad = b64d(body.get("additionalAuthenticatedData"), "additional_authenticated_data")
    if len(pt) > MAX_DATA or len(aad) > MAX_DATA:
        raise invalid("The plaintext or additional authenticated data is too long.")
    verified_pt = check_crc(body, pt, "plaintext", "plaintextCrc32c")
    verified_aad = check_crc(body, aad, "additionalAuthenticatedData", "additionalAuthenticatedDataCrc32c")
    nonce = secrets.token_bytes(12)
    ct = v["tag"] + nonce + AESGCM(v["material"]).encrypt(nonce, pt, aad)
    STATE.counts["encrypt"] += 1
    return {
        "name": f"{key}/cryptoKeyVersions/{n}",
        "ciphertext": base64.b64encode(ct).decode(),
        "ciphertextCrc32c": str(crc(ct)),
        "verifiedPlaintextCrc32c": verified_pt,
        "verifiedAdditionalAuthenticatedDataCrc32c": verified_aad,
        "protectionLevel": "SOFTWARE",
    }


def decrypt(resource, body):
    key, pinned = split_key(resource)
    if pinned is not None:
        raise invalid("Decrypt must name a CryptoKey, not a CryptoKeyVersion.")
    if key not in STATE.keys:
        raise RpcError(404, "NOT_FOUND", f"{key} not found.")
    ct = b64d(body.get("ciphertext"), "ciphertext")
    aad = b64d(body.get("additionalAuthenticatedData"), "additional_authenticated_data")
    check_crc(body, ct, "ciphertext", "ciphertextCrc32c")
    check_crc(body, aad, "additionalAuthenticatedData", "additionalAuthenticatedDataCrc32c")
    if len(ct) < TAG_LEN + 12 + 16:
        raise invalid("Decryption failed: the ciphertext is invalid.")
    found = STATE.tags.get(ct[:TAG_LEN])
    if found is None or found[0] != key:
        raise invalid("Decryption failed: verify that 'name' refers to the correct CryptoKey.")
    n = found[1]
    v = STATE.keys[key]["versions"][n]
    usable(key, n, v)
    try:
        pt = AESGCM(v["material"]).decrypt(ct[TAG_LEN:TAG_LEN + 12], ct[TAG_LEN + 12:], aad)
    except InvalidTag:
        raise invalid("Decryption failed: the ciphertext is invalid.")
    STATE.counts["decrypt"] += 1
    out = {"plaintextCrc32c": str(crc(pt)), "usedPrimary": n == STATE.keys[key]["primary"],
           "protectionLevel": "SOFTWARE"}
    if pt:
        out["plaintext"] = base64.b64encode(pt).decode()
    return out


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def token_grant(form, token_url):
    grant = form.get("grant_type", [""])[0]
    if grant == "refresh_token":
        rt = form.get("refresh_token", [""])[0]
        user = STATE.users.get(rt)
        if user is None or user != (form.get("client_id", [""])[0], form.get("client_secret", [""])[0]):
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        return 200, STATE.issue()
    if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
    assertion = form.get("assertion", [""])[0]
    try:
        h, c, s = assertion.split(".")
        header, claims = b64url_json(h), b64url_json(c)
        sig = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except Exception:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT."}
    if header.get("alg") != "RS256":
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: alg must be RS256."}
    account = STATE.service_accounts.get(claims.get("iss"))
    if account is None:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: unknown issuer."}
    try:
        account["key"].verify(sig, f"{h}.{c}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    if account.get("kid") and header.get("kid") != account["kid"]:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: kid."}
    now = time.time()
    iat, exp = claims.get("iat"), claims.get("exp")
    if claims.get("aud") != token_url:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: Failed audience check."}
    if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or exp <= now or iat > now + 300:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."}
    if SCOPE not in str(claims.get("scope", "")).split():
        return 400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope."}
    return 200, STATE.issue(email=claims.get("iss"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def rpc_error(self, e: RpcError):
        self.reply(e.http, {"error": {"code": e.http, "message": e.message, "status": e.status}})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authorize(self):
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        entry = STATE.tokens.get(token) if token else None
        if entry is None or (entry["expires"] is not None and entry["expires"] < time.time()):
            raise RpcError(401, "UNAUTHENTICATED",
                           "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
        if not entry["allow"]:
            raise RpcError(403, "PERMISSION_DENIED",
                           "Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource (or it may not exist).")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_test/requests":
            with STATE.lock:
                return self.reply(200, STATE.requests)
        if url.path == "/_test/stats":
            with STATE.lock:
                return self.reply(200, STATE.counts)
        if url.path == "/_test/health":
            return self.reply(200, {"ok": True})
        if url.path == "/computeMetadata/v1/":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.reply(403, {"error": "Missing Metadata-Flavor:Google header."})
            return self.reply(200, {"instance": {}}, [("Metadata-Flavor", "Google")])
        if url.path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.reply(403, {"error": "Missing Metadata-Flavor:Google header."})
            with STATE.lock:
                STATE.counts["metadata"] += 1
                out = STATE.issue()
            return self.reply(200, out, [("Metadata-Flavor", "Google")])
        if url.path.startswith("/v1/"):
            try:
                self.authorize()
                name = url.path[len("/v1/"):]
                with STATE.lock:
                    if name in STATE.keys:
                        return self.reply(200, key_json(name))
                    key, n = split_key(name)
                    if n is not None and key in STATE.keys and n in STATE.keys[key]["versions"]:
                        return self.reply(200, version_json(key, n, STATE.keys[key]["versions"][n]))
                raise RpcError(404, "NOT_FOUND", f"{name} not found.")
            except RpcError as e:
                return self.rpc_error(e)
        self.reply(404, {"error": "no such path"})

    def do_PATCH(self):
        url = urllib.parse.urlsplit(self.path)
        raw = self.body()
        try:
            self.authorize()
            name = url.path[len("/v1/"):]
            body = json.loads(raw or b"{}")
            with STATE.lock:
                key, n = split_key(name)
                if n is None or key not in STATE.keys or n not in STATE.keys[key]["versions"]:
                    raise RpcError(404, "NOT_FOUND", f"{name} not found.")
                v = STATE.keys[key]["versions"][n]
                state = {1: "ENABLED", 2: "DISABLED"}.get(body.get("state"), body.get("state"))
                if state not in ("ENABLED", "DISABLED") or v["state"] not in ("ENABLED", "DISABLED"):
                    raise RpcError(400, "FAILED_PRECONDITION", f"cannot set state {state} on {name}")
                v["state"] = state
                return self.reply(200, version_json(key, n, v))
        except RpcError as e:
            return self.rpc_error(e)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        raw = self.body()
        query = urllib.parse.parse_qs(url.query)
        if url.path.startswith("/_test/"):
            return self.control(url.path, json.loads(raw or b"{}"))
        if url.path == "/token":
            with STATE.lock:
                STATE.counts["token"] += 1
                delay = STATE.token_delay
            time.sleep(delay)
            host = self.headers.get("Host")
            with STATE.lock:
                status, out = token_grant(urllib.parse.parse_qs(raw.decode()), f"http://{host}/token")
            return self.reply(status, out)
        if not url.path.startswith("/v1/"):
            return self.reply(404, {"error": "no such path"})
        path = url.path[len("/v1/"):]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.rpc_error(invalid("Invalid JSON payload received."))
        with STATE.lock:
            STATE.requests.append({
                "method": "POST",
                "path": url.path,
                "query": url.query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            })
        try:
            self.authorize()
            resource, _, method = path.rpartition(":")
            with STATE.lock:
                fault = STATE.take_fault(method, resource)
            if fault and fault["kind"] == "status":
                raise RpcError(fault["http"], fault["status"], fault.get("message", "injected"))
            with STATE.lock:
                out = self.dispatch(path, resource, method, body, query)
            if fault and fault["kind"] == "corrupt":
                field = fault["field"]
                if field in ("ciphertextCrc32c", "plaintextCrc32c"):
                    out[field] = str((int(out[field]) + 1) % 2**32)
                elif field in ("ciphertext", "plaintext"):
                    data = bytearray(base64.b64decode(out[field]))
                    data[len(data) // 2] ^= 1
                    out[field] = base64.b64encode(bytes(data)).decode()
                else:
                    out[field] = False
            return self.reply(200, out)
        except RpcError as e:
            return self.rpc_error(e)

    def dispatch(self, path, resource, method, body, query):
        if method == "encrypt":
            return encrypt(resource, body)
        if method == "decrypt":
            return decrypt(resource, body)
        if method == "destroy":
            key, n = split_key(resource)
            v = STATE.keys.get(key, {}).get("versions", {}).get(n)
            if v is None:
                raise RpcError(404, "NOT_FOUND", f"{resource} not found.")
            v["state"] = "DESTROY_SCHEDULED"
            return version_json(key, n, v)
        if method == "updatePrimaryVersion":
            if resource not in STATE.keys:
                raise RpcError(404, "NOT_FOUND", f"{resource} not found.")
            n = int(body.get("cryptoKeyVersionId", "0"))
            if n not in STATE.keys[resource]["versions"]:
                raise RpcError(404, "NOT_FOUND", f"{resource}/cryptoKeyVersions/{n} not found.")
            STATE.keys[resource]["primary"] = n
            return key_json(resource)
        parts = path.split("/")
        if path.endswith("/keyRings") and len(parts) == 5:
            ring = f"{path}/{query.get('keyRingId', [''])[0]}"
            if ring in STATE.rings:
                raise RpcError(409, "ALREADY_EXISTS", f"{ring} already exists.")
            STATE.rings.add(ring)
            return {"name": ring, "createTime": now_rfc3339()}
        if path.endswith("/cryptoKeys") and len(parts) == 7:
            ring = path[: -len("/cryptoKeys")]
            if ring not in STATE.rings:
                raise RpcError(404, "NOT_FOUND", f"{ring} not found.")
            name = f"{path}/{query.get('cryptoKeyId', [''])[0]}"
            if name in STATE.keys:
                raise RpcError(409, "ALREADY_EXISTS", f"{name} already exists.")
            # Enums arrive as names, or as numbers (Google's REST clients send
            # `$alt=json;enum-encoding=int`).
            if body.get("purpose") not in ("ENCRYPT_DECRYPT", 1):
                raise invalid("only ENCRYPT_DECRYPT keys are served here")
            STATE.keys[name] = {"versions": {}, "primary": None, "created": now_rfc3339()}
            STATE.keys[name]["primary"] = new_version(name)
            return key_json(name)
        if path.endswith("/cryptoKeyVersions") and len(parts) == 9:
            key = path[: -len("/cryptoKeyVersions")]
            if key not in STATE.keys:
                raise RpcError(404, "NOT_FOUND", f"{key} not found.")
            n = new_version(key)
            return version_json(key, n, STATE.keys[key]["versions"][n])
        raise RpcError(404, "NOT_FOUND", f"no method {method or path}")

    def control(self, path, body):
        with STATE.lock:
            if path == "/_test/service_accounts":
                key = serialization.load_pem_public_key(body["public_key_pem"].encode())
                STATE.service_accounts[body["email"]] = {"key": key, "kid": body.get("kid")}
            elif path == "/_test/users":
                STATE.users[body["refresh_token"]] = (body["client_id"], body["client_secret"])
            elif path == "/_test/tokens":
                STATE.tokens[body["token"]] = {"expires": body.get("expires"), "allow": body.get("allow", True)}
            elif path == "/_test/token_settings":
                STATE.token_lifetime = body.get("lifetime", STATE.token_lifetime)
                STATE.token_delay = body.get("delay", STATE.token_delay)
            elif path == "/_test/revoke":
                # Every token issued so far to this service account stops
                # working (a revoked grant).
                for entry in STATE.tokens.values():
                    if entry.get("email") == body["email"]:
                        entry["expires"] = 0
            elif path == "/_test/faults":
                STATE.faults = body.get("faults", [])
            elif path == "/_test/reset_counts":
                STATE.counts = {k: 0 for k in STATE.counts}
                STATE.requests = []
            else:
                return self.reply(404, {"error": "no such control"})
        self.reply(200, {"ok": True})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

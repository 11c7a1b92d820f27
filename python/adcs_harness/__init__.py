"""adcs-harness from Python: start the AD CS stand-in, drive its CA.

``Server`` starts ``adcs-harness serve`` on a free loopback port, waits for
its ready file (never a sleep) and stops it on exit; its control helpers
approve, deny and revoke requests, publish CRLs, move the virtual clock,
inject faults and reset the CA through the JSON control API. Only the
standard library is used.

    with adcs_harness.Server(mode="standalone") as ca:
        ...  # enroll against ca.certsrv_url as ca.user / ca.password
        ca.issue(ca.pending()[0]["id"])
"""

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["Server", "ControlError", "find_binary"]

BINARY = "adcs-harness.exe" if os.name == "nt" else "adcs-harness"


class ControlError(Exception):
    """The control API refused a call: HTTP status, the CA's HRESULT (an
    int, when the CA gave one) and its message."""

    def __init__(self, status, message, hresult=None):
        self.status = status
        self.message = message
        self.hresult = hresult
        code = " (0x%08x)" % hresult if hresult is not None else ""
        super().__init__("HTTP %d: %s%s" % (status, message, code))


def find_binary(binary=None):
    """The adcs-harness executable: ``binary``, ``$ADCS_HARNESS_BINARY``, the
    one installed beside this Python (the wheel's), or the one on PATH."""
    for candidate in (binary, os.environ.get("ADCS_HARNESS_BINARY")):
        if candidate:
            if not os.path.isfile(candidate):
                raise FileNotFoundError("adcs-harness binary not found: %s" % candidate)
            return candidate
    scripts = sysconfig.get_path("scripts")
    beside = os.path.join(scripts, BINARY) if scripts else None
    if beside and os.path.isfile(beside):
        return beside
    found = shutil.which(BINARY)
    if found:
        return found
    raise FileNotFoundError(
        "no adcs-harness binary: `pip install adcs-harness`, put it on PATH, "
        "or set ADCS_HARNESS_BINARY"
    )


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (json.dumps(k), _toml_value(x)) for k, x in v.items()) + "}"
    raise TypeError("cannot write %r to serve.toml" % (v,))


def to_toml(config, prefix=""):
    """serve.toml text for a dict: tables for dicts, arrays of tables for
    lists of dicts, values otherwise."""
    lines, tables = [], []
    for key, value in config.items():
        name = prefix + json.dumps(key) if prefix else key
        if isinstance(value, dict):
            tables.append(("[%s]" % name, to_toml(value, name + ".")))
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for item in value:
                tables.append(("[[%s]]" % name, to_toml(item, name + ".")))
        elif value is not None:
            lines.append("%s = %s" % (json.dumps(key), _toml_value(value)))
    out = "\n".join(lines)
    for header, body in tables:
        out += "\n\n" + header + ("\n" + body if body else "")
    return out.strip() + "\n"


class Server:
    """``adcs-harness serve`` as a context manager (or ``start()``/``stop()``).

    Keyword arguments are what ``serve`` takes: ``mode`` ("enterprise" or
    "standalone"), ``http`` (plain HTTP instead of HTTPS), ``seed``,
    ``users`` (``"DOMAIN\\\\name:password"`` strings or ``[[users]]`` dicts),
    ``config`` (a dict written to serve.toml: ``[ca]``, ``[auth]``,
    ``[limits]``, ``[[faults]]``, ``start_time`` ...), ``binary``.
    """

    def __init__(self, mode="enterprise", *, http=False, seed=None, users=None,
                 config=None, binary=None, ready_timeout=30.0):
        self.mode = mode
        self.http = http
        self.seed = seed
        self.users = list(users or [])
        self.config = dict(config or {})
        self.binary = find_binary(binary)
        self.ready_timeout = ready_timeout
        self.ready = None
        self._dir = None
        self._proc = None
        self._log = None

    # -- lifetime ---------------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._dir = tempfile.mkdtemp(prefix="adcs-harness-")
        ready_file = os.path.join(self._dir, "ready.json")
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:0", "--mode", self.mode,
               "--ready-file", ready_file]
        if self.http:
            cmd.append("--http")
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        config = dict(self.config)
        users = [self._user(u) for u in self.users]
        if users:
            config["users"] = list(config.get("users", [])) + users
        if config:
            path = os.path.join(self._dir, "serve.toml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(to_toml(config))
            cmd += ["--config", path]
        self._log = open(os.path.join(self._dir, "serve.log"), "w+b")
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        self.ready = self._wait_ready(ready_file)
        return self

    def _user(self, u):
        if isinstance(u, dict):
            return u
        name, sep, password = u.partition(":")
        if not sep:
            raise ValueError("user %r: expected DOMAIN\\name:password" % u)
        return {"name": name, "password": password}

    def _wait_ready(self, path):
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError("adcs-harness serve exited with %s before it was ready:\n%s"
                                   % (self._proc.returncode, self.log()))
            try:
                with open(path, encoding="utf-8") as f:
                    return json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                time.sleep(0.02)
        self.stop()
        raise TimeoutError("adcs-harness serve was not ready after %.0f s" % self.ready_timeout)

    def stop(self):
        """Stops the server and removes its files (idempotent)."""
        if self._proc is not None and self._proc.poll() is None:
            if os.name == "nt":
                self._proc.terminate()
            else:
                self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def log(self, since=0):
        """The server's output (from byte offset ``since``)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(since)
        text = self._log.read().decode("utf-8", "replace")
        self._log.seek(0, os.SEEK_END)
        return text

    def log_size(self):
        if self._log is None:
            return 0
        self._log.flush()
        return os.path.getsize(self._log.name)

    # -- what the ready file says ----------------------------------------

    @property
    def certsrv_url(self):
        return self.ready["certsrv_url"]

    @property
    def control_url(self):
        return self.ready["control_url"]

    @property
    def ca_cert(self):
        """Path of the current CA certificate (PEM)."""
        return self.ready["ca_cert"]

    @property
    def root_cert(self):
        """Path of the root certificate (PEM): the HTTPS trust anchor."""
        return self.ready["root_cert"]

    @property
    def host(self):
        return self.ready["host"]

    @property
    def port(self):
        return self.ready["port"]

    @property
    def user(self):
        return self.ready["users"][0]["user"]

    @property
    def password(self):
        return self.ready["users"][0]["password"]

    @property
    def admin_user(self):
        return self.ready["admin"]["user"]

    @property
    def admin_password(self):
        return self.ready["admin"]["password"]

    # -- the control API ---------------------------------------------------

    def _call(self, method, path, body=None, query=None):
        url = self.control_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        token = base64.b64encode(("%s:%s" % (self.admin_user, self.admin_password)).encode()).decode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", "Basic " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        context = None
        if url.startswith("https:"):
            context = ssl.create_default_context(cafile=self.root_cert)
        try:
            with urllib.request.urlopen(req, context=context, timeout=60) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                detail = json.loads(raw)
            except ValueError:
                detail = {"error": raw.decode("utf-8", "replace")}
            hresult = detail.get("hresult")
            raise ControlError(e.code, detail.get("error", ""),
                               int(hresult, 16) if hresult else None) from None

    def status(self):
        return self._call("GET", "status")

    def requests(self, disposition=None):
        """Request rows, all or one disposition (pending, issued, denied, revoked, failed)."""
        return self._call("GET", "requests", query={"disposition": disposition} if disposition else None)

    def request(self, req_id):
        """One request row, with its certificate (PEM) when issued."""
        return self._call("GET", "requests/%d" % req_id)

    def pending(self):
        return self.requests("pending")

    def issue(self, req_id):
        """Issues a pending request as the certificate manager."""
        return self._call("POST", "requests/%d/issue" % req_id)

    def deny(self, req_id):
        return self._call("POST", "requests/%d/deny" % req_id)

    def revoke(self, serial, reason="unspecified"):
        return self._call("POST", "revoke", {"serial": serial, "reason": reason})

    def crl(self, delta=False):
        """Publishes a CRL; returns it (PEM)."""
        return self._call("POST", "crl", {"kind": "delta" if delta else "base"})["crl"]

    def clock(self, advance=None, set=None):  # noqa: A002 (the API's own word)
        """The virtual clock; moves it first when ``advance`` (seconds) or
        ``set`` (Unix time, freezes it) is given."""
        if advance is None and set is None:
            return self._call("GET", "clock")
        body = {}
        if advance is not None:
            body["advance"] = advance
        if set is not None:
            body["set"] = set
        return self._call("POST", "clock", body)

    def faults(self, rules=None):
        """Replaces the fault rules (``[{"endpoint": "certfnsh.asp", "status": 503}]``); returns them."""
        if rules is None:
            return self._call("GET", "faults")
        return self._call("POST", "faults", list(rules))

    def journal(self, since=0):
        return self._call("GET", "journal", query={"since": since})

    def reset(self):
        """Back to the start: empty database, configured templates and
        fault rules, the clock as it started, an empty journal."""
        return self._call("POST", "reset")

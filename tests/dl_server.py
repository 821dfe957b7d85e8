"""A small HTTP server on 127.0.0.1 that serves one archive, with faults on demand.

Used by tests/test_get_datasets.py:

    server = FaultServer(payload)
    server.faults = ["drop", "503"]   # one fault per request, in order, then normal answers
    ... fetch server.url ...
    server.requests                    # [(method, path, Range header or None), ...]
    server.stop()

Faults:
- "ok": a normal answer (honours Range unless honor_range is False).
- "500", "503": that status, with a short body.
- "drop": the headers announce the whole body, half of it is sent, then the
  connection is closed.
- "stall": the headers and a few bytes are sent, then nothing until the
  server stops (or stall_seconds pass).
- "ignore_range": a 200 answer with the whole body, whatever the Range header.
"""
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RANGE_RE = re.compile(r"^bytes=(\d+)-$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        srv = self.server.owner
        rng = self.headers.get("Range")
        with srv.lock:
            srv.requests.append(("GET", self.path, rng))
            fault = srv.faults.pop(0) if srv.faults else "ok"
        if fault in ("500", "503"):
            return self._status(int(fault))
        if self.path != srv.path:
            return self._status(404)
        body, start = srv.payload, 0
        match = RANGE_RE.match(rng or "")
        if match and srv.honor_range and fault != "ignore_range":
            start = int(match.group(1))
            if start >= len(body):
                return self._status(416)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:]
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        if fault == "drop":
            self.wfile.write(rest[:len(rest) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault == "stall":
            self.wfile.write(rest[:1024])
            self.wfile.flush()
            srv.released.wait(srv.stall_seconds)
            self.close_connection = True
            return
        self.wfile.write(rest)

    def _status(self, code):
        body = f"status {code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Clients that hang up (as the downloader does after an error) are expected."""


class FaultServer:
    """A threaded HTTP server on 127.0.0.1 (port chosen by the system)."""

    def __init__(self, payload, path="/cifar-10-python.tar.gz"):
        self.payload = payload
        self.path = path
        self.faults = []
        self.honor_range = True
        self.stall_seconds = 30.0
        self.requests = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def stop(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

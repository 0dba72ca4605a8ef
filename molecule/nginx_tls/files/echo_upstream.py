"""Test upstream for the nginx_tls scenario: answers every request with what it received, and
the port it listens on (argv[1]): two of them stand for two MLflow instances."""

import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        digest, received = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().strip() or b"0", 16):
                chunk = self.rfile.read(size)
                digest.update(chunk)
                received += len(chunk)
                self.rfile.readline()
            self.rfile.readline()
        else:
            while received < length:
                chunk = self.rfile.read(min(1 << 20, length - received))
                digest.update(chunk)
                received += len(chunk)
        if self.path == "/health":
            body = b"OK"
        else:
            body = json.dumps(
                {
                    "port": PORT,
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body_bytes": received,
                    "body_sha256": digest.hexdigest(),
                }
            ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer


PORT = int(sys.argv[1])
ThreadingHTTPServer(("127.0.0.1", PORT), Echo).serve_forever()

"""A tiny HTTP proxy between a test browser and the live server, for the unhappy paths of a slow
phone network: it holds back (`delay`) or loses (`drop`) the answer to POSTs whose path ends with
a given suffix, after the server has handled them. Everything else passes untouched.

One connection per request (HTTP/1.0, "Connection: close"), so a lost answer is what a phone
sees when the network fails: the connection closes with nothing received, and the browser does
not retry on its own."""

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class SlowNetwork:
    def __init__(self, upstream_url, suffix):
        self.upstream = urlsplit(upstream_url)
        self.suffix = suffix
        self.delay = 0.0  # seconds to hold each matching answer back
        self.drops = 0  # how many of the next matching answers are lost
        self.handled = []  # (method, path, status) of every request the server answered
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def posts_to_cast(self):
        return [h for h in self.handled if h[0] == "POST" and h[1].endswith(self.suffix)]

    def _fate(self, method, path):
        """What happens to this answer: None (delivered), "delay" or "drop"."""
        if method != "POST" or not path.endswith(self.suffix):
            return None
        with self._lock:
            if self.drops:
                self.drops -= 1
                return "drop"
        return "delay" if self.delay else None

    def _handler(self):
        network = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(network.upstream.hostname, network.upstream.port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    content = response.read()
                finally:
                    upstream.close()
                path = urlsplit(self.path).path
                with network._lock:
                    network.handled.append((self.command, path, response.status))
                fate = network._fate(self.command, path)
                if fate == "drop":
                    self.close_connection = True
                    return  # the server did its work; the phone never hears of it
                if fate == "delay":
                    time.sleep(network.delay)
                self.send_response_only(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_HEAD = _forward

        return Handler

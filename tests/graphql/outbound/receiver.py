"""A real HTTP receiver on 127.0.0.1 (a free port), in a thread: records every request and
answers as scripted (a status and body, or hang until released)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = "hang"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver
        headers = {k.lower(): v for k, v in self.headers.items()}
        receiver.record(Received(self.path, headers, body))
        answer = receiver.next_answer()
        try:
            if isinstance(answer, str):  # HANG
                receiver.release.wait(timeout=30)
                answer = (200, "late")
            status, text = answer
            data = text.encode()
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            if 300 <= status < 400:  # a redirect the worker must not follow
                self.send_header("location", "/redirected")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the sender gave up (timeout): nobody is listening any more
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


class Receiver:
    """`answers` are used in order, then `default`; each is (status, body) or HANG."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: deque[tuple[int, str] | str] = deque()
        self.default: tuple[int, str] = (200, "ok")
        self.release = threading.Event()
        self.got_request = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def script(self, *answers: tuple[int, str] | str) -> None:
        self.answers.extend(answers)

    def record(self, request: Received) -> None:
        with self._lock:
            self.requests.append(request)
        self.got_request.set()

    def next_answer(self) -> tuple[int, str] | str:
        with self._lock:
            return self.answers.popleft() if self.answers else self.default

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

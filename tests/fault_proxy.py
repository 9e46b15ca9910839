"""A fault-injecting HTTP proxy in front of the real llama-server, for faults a healthy server never produces.

Every request is forwarded to `upstream` (the real server) unless a fault is set; streamed replies (SSE) are passed
on chunk by chunk, in chunked transfer encoding, so a connection dropped mid-stream looks to the client exactly as
a crashed server does (an incomplete body), not like a short, complete reply.

Faults apply to chat completions only (GET /models keeps answering, as a busy or broken server's router does), to
the first `times` of them (None: all), optionally only to one `model`:
- "500": HTTP 500 with an OpenAI-style error body, never forwarded;
- "delay": forwarded after `delay_s` seconds (a server slower than the client's timeout), unless the client hung
  up meanwhile;
- "malformed": a well-formed chat completion whose content is broken JSON (not forwarded: the shared server's
  time is spent on the faults that need it);
- "drop": the connection is closed without a reply (streamed requests: after the first chunk of the reply).
`stop()` closes the listening socket (connection refused: the endpoint is down); `start()` opens it again on the
same port. Every chat request is logged with its model, whether it was faulted, and its message text.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import httpx

from tests.fake_openai import send_json

Fault = Literal["500", "delay", "malformed", "drop"]
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Logged:
    model: str | None
    faulted: Fault | None
    text: str  # every message's content, joined: which question a call was about
    stream: bool
    structured: bool  # asked for a JSON reply (response_format): a judge's call, not an answer's


@dataclass
class FaultPlan:
    fault: Fault | None = None
    times: int | None = None  # how many chat requests to fault; None = every one
    model: str | None = None  # fault only requests for this model
    delay_s: float = 0.0
    log: list[Logged] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, model: str | None) -> Fault | None:
        """The fault for this request (and one fewer left), or None to forward it untouched."""
        with self.lock:
            if self.fault is None or (self.model and model != self.model) or self.times == 0:
                return None
            if self.times is not None:
                self.times -= 1
            return self.fault

    def chat(self, model: str | None = None, faulted: bool | None = None) -> list[Logged]:
        """The logged chat requests, for one model and/or only the faulted (True) or forwarded (False) ones."""
        return [r for r in self.log if (model is None or r.model == model)
                and (faulted is None or (r.faulted is not None) == faulted)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, upstream: str, plan: FaultPlan) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.origin, self.plan = upstream.rstrip("/").removesuffix("/v1"), plan  # request paths keep their /v1


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self.path.endswith("/chat/completions"):
            self._forward(body)
            return
        request = json.loads(body or b"{}")
        model, stream = request.get("model"), bool(request.get("stream"))
        fault = self.server.plan.take(model)
        text = "\n".join(str(m.get("content")) for m in request.get("messages", []))
        with self.server.plan.lock:
            self.server.plan.log.append(Logged(model, fault, text, stream, "response_format" in request))
        if fault == "500":
            send_json(self, 500, json.dumps({"error": {"code": 500, "message": "injected fault: internal server error",
                                                   "type": "server_error"}}).encode())
        elif fault == "drop" and not stream:
            self.close_connection = True  # nothing sent: the client sees the server hang up
        else:
            if fault == "malformed":
                send_json(self, 200, _malformed(model))
                return
            if fault == "delay":
                time.sleep(self.server.plan.delay_s)
                if self._client_gone():  # it timed out meanwhile: spare the shared server a reply nobody reads
                    self.close_connection = True
                    return
            self._forward(body, fault)

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""

    def _forward(self, body: bytes | None, fault: Fault | None = None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS | {"host"}}
        url = self.server.origin + self.path
        try:
            with httpx.Client(timeout=None) as client, client.stream(self.command, url, content=body,
                                                                     headers=headers) as response:
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    if key.lower() not in _HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in response.iter_raw():
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.flush()
                    if fault == "drop":  # a streamed reply: hang up after its first chunk, without the last one
                        self.close_connection = True
                        return
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            self.close_connection = True



def _malformed(model: str | None) -> bytes:
    """A chat completion as llama-server writes it, whose content is JSON cut off mid-string (yet "stop", not
    "length"): what a judge without a grammar writes when it loses its way."""
    return json.dumps({
        "id": "chatcmpl-fault", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": '{"verdict": "supported because the cont'}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 9, "total_tokens": 10},
    }).encode()


class FaultProxy:
    """The proxy on a fixed loopback port; `base_url` is what settings point at."""

    def __init__(self, upstream: str, port: int) -> None:
        self.upstream, self.port, self.plan = upstream, port, FaultPlan()
        self._server: _Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self._server = _Server(self.port, self.upstream, self.plan)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the listening socket: new connections are refused, as by a stopped server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def inject(self, fault: Fault | None, times: int | None = None, model: str | None = None,
               delay_s: float = 0.0) -> None:
        with self.plan.lock:
            self.plan.fault, self.plan.times, self.plan.model, self.plan.delay_s = fault, times, model, delay_s

    def clear(self) -> None:
        self.inject(None)


@contextmanager
def fault_proxy(upstream: str, port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()

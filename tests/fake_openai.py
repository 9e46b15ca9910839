"""A stdlib OpenAI-compatible server for tests: plays the Ragas judge and the answering model.

Answers by markers found in the prompt, so every failure path runs through Ragas, Instructor, LangChain and
the openai client for real. GARBAGE in the user message -> non-JSON prose; NOSTATEMENTS -> an empty statement
list; SLOW -> sleeps past the client timeout; LONG -> JSON cut off at max_tokens; otherwise valid JSON for
whichever Ragas schema the system message names, and `answer_text` for any other prompt (the RAG answer).
The testset generator's prompts (entities, then a question and answer) are answered from the passage in the
prompt; `weak = True` makes every JSON-schema prompt get prose, like a judge too small for Ragas' prompts, and
`delay_s` makes every reply that late, like a busy server; `refuse_json_schema` answers HTTP 500 to a json_schema
response_format, as llama-cpp-python's server did. A streamed request gets server-sent events (and the usage chunk when
`stream_options.include_usage` asks for it), as llama-server, vLLM and OpenAI send them.
Every chat request is recorded, so tests can count LLM calls per model.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GARBAGE = "Sure! Here is my analysis: the answer looks mostly fine, I think (no JSON, sorry)."
MODELS = ("qwen2.5-0.5b", "qwen2.5-1.5b")


def send_json(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    """One JSON response on a keep-alive connection (this fake server's and tests/fault_proxy.py's); a client that
    gave up first (its timeout) gets the connection closed, not an error in the test's log."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer_text: str = "The colony was named Fort Caroline.") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer_text = answer_text
        self.chat_requests: list[dict] = []
        self.authorizations: list[str | None] = []  # the Authorization header of every request, GET ones too
        self.lock = threading.Lock()
        self.fail_after: int | None = None  # answer HTTP 500 once this many chat requests were served
        self.error_message = "fake server told to fail"  # the body of that HTTP 500
        self.model_ids = list(MODELS)  # what GET /models lists
        self.weak = False  # prose instead of JSON for every schema prompt (a judge too small for Ragas)
        self.delay_s = 0.0  # seconds before every chat reply
        self.refuse_json_schema = False  # HTTP 500 to response_format json_schema, as llama-cpp-python's server
        self.in_flight = self.most_in_flight = 0  # chat requests being answered now, and the most ever at once

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def requests_for(self, model: str) -> list[dict]:
        return [r for r in self.chat_requests if r.get("model") == model]


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI
    protocol_version = "HTTP/1.1"  # keep-alive, like uvicorn behind llama.cpp, vLLM or OpenAI

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, payload: dict, status: int = 200) -> None:
        send_json(self, status, json.dumps(payload).encode())

    def do_GET(self) -> None:
        self.server.authorizations.append(self.headers.get("Authorization"))
        if self.path.rstrip("/") == "/v1/models":
            self._send({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"}
                                                   for m in self.server.model_ids]})
        else:
            self._send({"error": "not found"}, 404)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.server.lock:
            self.server.chat_requests.append(request)
            self.server.authorizations.append(self.headers.get("Authorization"))
            served = len(self.server.chat_requests)
        if self.server.fail_after is not None and served > self.server.fail_after:
            self._send({"error": {"message": self.server.error_message, "type": "server_error"}}, 500)
            return
        if self.server.refuse_json_schema and (request.get("response_format") or {}).get("type") == "json_schema":
            self._send({"error": {"message": "json_schema is not supported", "type": "server_error"}}, 500)
            return
        messages = request.get("messages", [])
        prompt = "\n".join(str(m.get("content")) for m in messages)
        user = "\n".join(str(m.get("content")) for m in messages if m.get("role") == "user")
        with self.server.lock:
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
        try:
            time.sleep(self.server.delay_s)
            if self.server.weak and "schema" in prompt.lower():
                content, finish_reason = GARBAGE, "stop"
            else:
                content, finish_reason = _reply(prompt, user, self.server.answer_text)
        finally:
            with self.server.lock:
                self.server.in_flight -= 1
        usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
        if request.get("stream"):
            self._stream(request, content, finish_reason, usage)
            return
        self._send({
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": request.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
            "usage": usage,
        })

    def _stream(self, request: dict, content: str, finish_reason: str, usage: dict) -> None:
        """The reply as server-sent events, a few words a chunk, with the usage chunk when the client asks for it."""
        head = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": request.get("model")}
        words = re.findall(r"\S+\s*", content) or [""]
        events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        events += [{**head, "choices": [{"index": 0, "delta": {"content": w}}]} for w in words]
        events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            events.append({**head, "choices": [], "usage": usage})
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _reply(prompt: str, user: str, answer_text: str) -> tuple[str, str]:
    if "SLOW" in user:
        time.sleep(1.5)
        return GARBAGE, "stop"
    if "GARBAGE" in user:
        return GARBAGE, "stop"
    if "LONG" in user:
        return '{"statements": ["Paris is', "length"
    if "NLIStatementOutput" in prompt:
        return json.dumps({"statements": [{"statement": "s", "reason": "stated in the context", "verdict": 1}]}), "stop"
    if "StatementGeneratorOutput" in prompt:
        statements = [] if "NOSTATEMENTS" in user else ["Paris is the capital of France."]
        return json.dumps({"statements": statements}), "stop"
    if "AnswerRelevanceOutput" in prompt:
        return json.dumps({"question": "What is the capital of France?", "noncommittal": 0}), "stop"
    if "ContextPrecisionOutput" in prompt:
        return json.dumps({"reason": "the context states it", "verdict": 1}), "stop"
    if "ContextRecallOutput" in prompt:
        return json.dumps({"classifications": [{"statement": "s", "reason": "in the context", "attributed": 1}]}), "stop"
    if "NEROutput" in prompt:  # testset generation: the named entities of the passage
        words = re.findall(r"\b[A-Z][a-z]{3,}\b", _prompt_input(user).get("text", ""))
        return json.dumps({"entities": list(dict.fromkeys(words))[:3]}), "stop"
    if "GeneratedQueryAnswer" in prompt:  # testset generation: a question about the term, answered by the passage
        data = _prompt_input(user)
        first_sentence = re.split(r"(?<=\.)\s", data.get("context", "").strip())[0]
        return json.dumps({"query": f"What do the documents say about {data.get('term')}?", "answer": first_sentence}), "stop"
    if "not_supported" in user:  # the pipeline's per-claim grounding judge
        return json.dumps({"verdict": "supported"}), "stop"
    if "Proposed answer:" in user:  # the pipeline's answer-level check
        return json.dumps({"supported": True}), "stop"
    if "json" in prompt.lower() and "schema" in prompt.lower():
        return GARBAGE, "stop"  # a Ragas schema this fake does not know
    return answer_text, "stop"


def _prompt_input(user: str) -> dict:
    """The input object a Ragas PydanticPrompt appends after its examples: `input: {...}\nOutput: `."""
    text = user.rsplit("input: ", 1)[-1].rsplit("Output:", 1)[0]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {}


@contextmanager
def serving(answer_text: str = "The colony was named Fort Caroline.") -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(answer_text)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()

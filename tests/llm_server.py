"""A small OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1, for the usage tests.

The real ``openai`` and ``anthropic`` SDKs talk to it. It answers with fixed token
counts (so totals and costs are exact) and streams Chat Completions as SSE with set
delays (so ttft and itl can be checked against them).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Chat Completions: every call reports these counts.
CHAT = {"prompt_tokens": 120, "completion_tokens": 30, "cached_tokens": 20}
#: Anthropic Messages: input_tokens leaves out the cache reads and writes.
ANTHROPIC = {
    "input_tokens": 50,
    "cache_read_input_tokens": 100,
    "cache_creation_input_tokens": 10,
    "output_tokens": 25,
}
#: Responses API.
RESPONSES = {"input_tokens": 80, "cached_tokens": 30, "output_tokens": 15}
#: Streaming: the first chunk after FIRST_CHUNK_S, the next ones CHUNK_GAP_S apart.
FIRST_CHUNK_S = 0.15
CHUNK_GAP_S = 0.05
STREAM_WORDS = ("Hello", " from", " the", " stream")


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path.endswith("/chat/completions"):
            if body.get("stream"):
                self._stream_chat(body)
            else:
                self._json(_chat(body))
        elif self.path.endswith("/messages"):
            self._json(_message(body))
        elif self.path.endswith("/responses"):
            self._json(_response(body))
        else:
            self.send_error(404)

    def _json(self, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _stream_chat(self, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        model = body.get("model", "gpt-4o-mini")
        time.sleep(FIRST_CHUNK_S)
        for i, word in enumerate(STREAM_WORDS):
            if i:
                time.sleep(CHUNK_GAP_S)
            last = i == len(STREAM_WORDS) - 1
            self._event(_chunk(model, {"content": word}, "stop" if last else None))
        if (body.get("stream_options") or {}).get("include_usage"):
            time.sleep(CHUNK_GAP_S)
            final = _chunk(model, None, None)
            final["choices"] = []
            final["usage"] = _chat_usage()
            self._event(final)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, data: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
        self.wfile.flush()


def _prompt(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{"content": body.get("input", "")}]
    content = messages[-1].get("content", "")
    return content if isinstance(content, str) else json.dumps(content)


def _chat_usage() -> dict[str, Any]:
    return {
        "prompt_tokens": CHAT["prompt_tokens"],
        "completion_tokens": CHAT["completion_tokens"],
        "total_tokens": CHAT["prompt_tokens"] + CHAT["completion_tokens"],
        "prompt_tokens_details": {"cached_tokens": CHAT["cached_tokens"]},
    }


def _chat(body: dict[str, Any]) -> dict[str, Any]:
    prompt = _prompt(body)
    finish = "length" if "long" in prompt else "stop"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": f"echo: {prompt}"},
            }
        ],
        "usage": _chat_usage(),
    }


def _chunk(model: str, delta: dict[str, Any] | None, finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


def _message(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-3-5-haiku-latest"),
        "content": [{"type": "text", "text": f"echo: {_prompt(body)}"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": dict(ANTHROPIC),
    }


def _response(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": body.get("model", "gpt-4o-mini"),
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": RESPONSES["input_tokens"],
            "input_tokens_details": {"cached_tokens": RESPONSES["cached_tokens"]},
            "output_tokens": RESPONSES["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": 5},
            "total_tokens": RESPONSES["input_tokens"] + RESPONSES["output_tokens"],
        },
    }


class LLMServer:
    """The server in a daemon thread; ``url`` is its base (``http://127.0.0.1:PORT``)."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

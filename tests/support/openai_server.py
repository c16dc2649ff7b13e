"""A fake OpenAI-compatible Chat Completions API on 127.0.0.1, driven by the real `openai` SDK.

Tests script it like the fake Anthropic server: a queue of `Reply`s (from
`tests.support.anthropic_server`) consumed one per request, then the default. A forced function
call (`tool_choice: {"type": "function", ...}`) is answered with a `tool_calls` entry whose
arguments are the reply's text; an error status comes back as the API's error body. Usage:
about four characters a token.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import Any

from aiohttp import web

from tests.support.anthropic_server import Reply
from tests.support.loopback import LoopbackServer


class FakeOpenAIServer(LoopbackServer):
    def __init__(self, *, default: Reply | None = None) -> None:
        super().__init__()
        self.default = default or Reply()
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._completions)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        reply = self.script.popleft() if self.script else self.default
        if reply.status != 200:
            error = {"error": {"message": "fake error", "type": "server_error", "code": None}}
            return web.json_response(error, status=reply.status, headers=reply.headers)
        choice = body.get("tool_choice") or {}
        name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if name:
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": reply.text},
                }
            ]
        else:
            message["content"] = reply.text
        prompt = len(json.dumps(body.get("messages", []))) // 4
        completion = max(1, len(reply.text) // 4)
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": 1_772_000_000,
                "model": body.get("model", "unknown"),
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )

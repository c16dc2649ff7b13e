"""A fake Anthropic Messages API on 127.0.0.1 (aiohttp), driven by the real `anthropic` SDK.

Tests script it: a queue of `Reply`s consumed one per request, then a default reply or a
`responder` that builds a reply from the request. Replies: a well-formed answer (usage with cache
tokens), any text (malformed JSON, an out-of-range probability), an error status with
`retry-after`, a hang (until the client gives up and the server closes), and a delay.

Usage is simulated: about four characters a token, and prompt caching as the API bills it
(`tests.support.anthropic_cache`: by prefix up to each `cache_control` breakpoint, per model,
above the model's minimum cacheable length, with 5-minute and 1-hour lifetimes on `cache.now`):
`cache_creation_input_tokens` (split by TTL in `cache_creation`), `cache_read_input_tokens`,
and `input_tokens` for what follows the last breakpoint. A fifth breakpoint is a 400. A request
looks the cache up on arrival, and what it writes is readable once its answer is sent, so
requests in flight together do not read each other's writes (the API makes an entry readable
once the response begins).

Tools: a request that forces a tool (`tool_choice: {"type": "tool", "name": ...}`) is answered
with a `tool_use` block whose input is the reply's text parsed as a JSON object (a text that is
no JSON object comes back as a plain text block, as a model that ignored the tool would). The
default reply of a forced `screen_market` call is `SCREEN_DEFAULT` (analyse: true), and of a
forced `screen_markets` call (several markets a call) a verdict of analyse true for every market
listed; `screened(body)` gives the listed markets' texts and `Reply.verdicts` an answer to them.

Message Batches: `POST /v1/messages/batches` answers each request as `/v1/messages` would (the
same script, responder and usage), keeps the batch `in_progress` for `batch_polls` status
checks, then `ended` with a `results_url` that serves the results as JSON lines. An error
status in a reply becomes an `errored` result. The requests of one batch are answered against
the cache as it stood when the batch was created: none reads what another of the batch wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.anthropic_cache import PromptCache, TooManyBreakpoints
from tests.support.loopback import LoopbackServer

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def answer_text(
    probability: float | str = 0.6,
    confidence: float | str = 0.7,
    key_factors: tuple[str, ...] = ("base rate", "recent news"),
    sources_used: tuple[str, ...] = (),
) -> str:
    return json.dumps(
        {
            "outside_view": "Comparable questions resolve YES a little over half the time.",
            "inside_view": "The supplied news moves the picture slightly toward YES.",
            "counter_argument": "Announced timelines slip more often than not.",
            "probability": probability,
            "confidence": confidence,
            "key_factors": list(key_factors),
            "sources_used": list(sources_used),
        }
    )


@dataclass(frozen=True)
class Reply:
    status: int = 200
    text: str = field(default_factory=answer_text)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # never answer (until the server closes)
    usage: dict[str, int] | None = None  # overrides the simulated usage

    @classmethod
    def answer(cls, probability: float | str = 0.6, **kwargs: Any) -> Reply:
        delay = kwargs.pop("delay", 0.0)
        return cls(text=answer_text(probability, **kwargs), delay=delay)

    @classmethod
    def verdicts(cls, *analyse: bool, reason: str = "fake verdict") -> Reply:
        """The answer of a `screen_markets` call: one verdict per listed market, in order."""
        verdicts = [
            {"market": n, "analyse": a, "reason": reason} for n, a in enumerate(analyse, start=1)
        ]
        return cls(text=json.dumps({"verdicts": verdicts}))

    @classmethod
    def error(cls, status: int, *, retry_after: str | None = None) -> Reply:
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        return cls(status=status, headers=headers)


Responder = Callable[[dict[str, Any]], Reply]
SCREEN_DEFAULT = Reply(text=json.dumps({"analyse": True, "reason": "fake: the news is material"}))


class FakeAnthropicServer(LoopbackServer):
    max_body = 256 * 1024**2  # the Message Batches API takes batches of up to 256 MB

    def __init__(self, *, default: Reply | None = None, responder: Responder | None = None) -> None:
        super().__init__()
        self.default = default or Reply()
        self.responder = responder
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []  # the JSON bodies, in arrival order
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cache = PromptCache()
        self._ids = itertools.count(1)
        self.batched: list[dict[str, Any]] = []  # the params of requests that came in batches
        self.batch_polls = 1  # status checks a batch stays in progress for
        self.batch_polls_seen = 0
        self._batches: dict[str, dict[str, Any]] = {}

    @staticmethod
    def screened(body: dict[str, Any]) -> list[str]:
        """The texts of the markets a `screen_markets` request lists, in order."""
        content = body["messages"][0]["content"]
        text = content if isinstance(content, str) else "".join(b["text"] for b in content)
        return re.findall(r'<market number="\d+">\n(.*?)\n</market>', text, re.DOTALL)

    @staticmethod
    def forced_tool(body: dict[str, Any]) -> str | None:
        choice = body.get("tool_choice") or {}
        return choice.get("name") if choice.get("type") == "tool" else None

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/batches", self._create_batch)
        app.router.add_get("/v1/messages/batches/{id}", self._get_batch)
        app.router.add_get("/v1/messages/batches/{id}/results", self._batch_results)

    async def _create_batch(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        batch_id = f"msgbatch_fake_{next(self._ids)}"
        lines = []
        snapshot = self.cache.copy()  # what the batch's requests can read
        for item in body["requests"]:
            params = item["params"]
            self.requests.append(params)
            self.batched.append(params)
            reply = self._next(params)
            if reply.status != 200:
                kind = ERROR_TYPES.get(reply.status, "api_error")
                error = {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}
                result: dict[str, Any] = {"type": "errored", "error": error}
            else:
                usage = reply.usage or self.cache.usage(params, snapshot=snapshot)
                message = self._message(params, reply, usage)
                result = {"type": "succeeded", "message": message}
            lines.append({"custom_id": item["custom_id"], "result": result})
        self._batches[batch_id] = {"lines": lines, "polls_left": self.batch_polls}
        return web.json_response(self._batch(batch_id))

    def _batch(self, batch_id: str) -> dict[str, Any]:
        state = self._batches[batch_id]
        ended = state["polls_left"] <= 0
        count = len(state["lines"])
        errored = sum(1 for line in state["lines"] if line["result"]["type"] == "errored")
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else count,
                "succeeded": count - errored if ended else 0,
                "errored": errored if ended else 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": "2026-03-01T00:00:00Z",
            "expires_at": "2026-03-02T00:00:00Z",
            "ended_at": "2026-03-01T00:01:00Z" if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch_id}/results" if ended else None,
        }

    async def _get_batch(self, request: web.Request) -> web.StreamResponse:
        batch_id = request.match_info["id"]
        if batch_id not in self._batches:
            raise web.HTTPNotFound()
        self.batch_polls_seen += 1
        state = self._batches[batch_id]
        payload = self._batch(batch_id)
        state["polls_left"] -= 1
        return web.json_response(payload)

    async def _batch_results(self, request: web.Request) -> web.StreamResponse:
        state = self._batches.get(request.match_info["id"])
        if state is None:
            raise web.HTTPNotFound()
        text = "".join(json.dumps(line) + "\n" for line in state["lines"])
        return web.Response(text=text, content_type="application/binary")

    async def _wait(self, seconds: float | None) -> None:
        """Wait `seconds` (forever if None) or until the server closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _next(self, body: dict[str, Any]) -> Reply:
        if self.script:
            return self.script.popleft()
        if self.responder is not None:
            return self.responder(body)
        if self.forced_tool(body) == "screen_market":
            return SCREEN_DEFAULT
        if self.forced_tool(body) == "screen_markets":
            return Reply.verdicts(*(True for _ in self.screened(body)), reason="fake: material")
        return self.default

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        reply = self._next(body)
        try:
            # looked up on arrival; what it writes is readable once its answer begins
            usage, writes = self.cache.lookup(body) if reply.usage is None else (reply.usage, {})
        except TooManyBreakpoints as exc:
            error = {"type": "invalid_request_error", "message": str(exc)}
            return web.json_response({"type": "error", "error": error}, status=400)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.hang:
                await self._wait(None)
                raise web.HTTPServiceUnavailable()
            if reply.delay:
                await self._wait(reply.delay)
        finally:
            self.in_flight -= 1
        self.statuses.append(reply.status)
        if reply.status != 200:
            kind = ERROR_TYPES.get(reply.status, "api_error")
            payload = {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}
            return web.json_response(payload, status=reply.status, headers=reply.headers)
        self.cache.entries.update(writes)
        return web.json_response(self._message(body, reply, usage), headers=reply.headers)

    def _content(self, body: dict[str, Any], reply: Reply) -> tuple[list[dict[str, Any]], str]:
        tool = self.forced_tool(body)
        if tool is not None:
            try:
                value = json.loads(reply.text)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                block = {"type": "tool_use", "id": f"toolu_{next(self._ids)}", "name": tool}
                return [{**block, "input": value}], "tool_use"
        return [{"type": "text", "text": reply.text}], "end_turn"

    def _message(self, body: dict[str, Any], reply: Reply, usage: dict[str, Any]) -> dict[str, Any]:
        content, stop = self._content(body, reply)
        return {
            "id": f"msg_fake_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"output_tokens": max(1, len(reply.text) // 4), **usage},
        }

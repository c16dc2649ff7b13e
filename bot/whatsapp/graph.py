"""A small client for the parts of the WhatsApp Cloud API (Graph API) Polyops uses, on httpx.

Four calls: `phone_number()` (checks the token and the phone number id at start),
`send(payload)` (POST /{phone-number-id}/messages: text, interactive, image, template),
`upload_media(data, mime)` (POST /{phone-number-id}/media, multipart) and `close()`.
Every failure becomes a `GraphError` whose `kind` says what the sender should do about it,
decided by the Graph API error code (Meta answers some rate limits with HTTP 400, so the
code decides, not the status).

The access token goes only into the client's Authorization header: it is never logged, and
`GraphError` messages carry Meta's error text, never the request headers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


class ErrorKind(StrEnum):
    RATE_LIMIT = "rate_limit"  # wait, then send the same message again
    TRANSIENT = "transient"  # network, 5xx, "try again later": retry with backoff
    WINDOW_CLOSED = "window_closed"  # outside the 24-hour window: a template is needed
    UNDELIVERABLE = "undeliverable"  # this recipient cannot get it: skip, tell someone
    TEMPLATE = "template"  # the alert template is missing, paused or misfilled
    UNAUTHORIZED = "unauthorized"  # the token is refused: nothing will work until fixed
    REJECTED = "rejected"  # the request itself is refused (formatting, parameters)


# Graph API error codes -> what to do. The Cloud API error-code reference lists them.
_KINDS: dict[int, ErrorKind] = {
    **dict.fromkeys((4, 80007, 130429, 131056, 131048, 131049), ErrorKind.RATE_LIMIT),
    **dict.fromkeys((1, 2, 131000, 131016, 133004), ErrorKind.TRANSIENT),
    **dict.fromkeys((131047, 470), ErrorKind.WINDOW_CLOSED),
    **dict.fromkeys(
        (131026, 131030, 131021, 131045, 131050, 133010, 368, 130472), ErrorKind.UNDELIVERABLE
    ),
    **dict.fromkeys(
        (132000, 132001, 132005, 132007, 132012, 132015, 132016, 132018, 132068),
        ErrorKind.TEMPLATE,
    ),
    **dict.fromkeys((0, 10, 190, 200, 131005), ErrorKind.UNAUTHORIZED),
}


def classify(code: int | None, status: int) -> ErrorKind:
    """The kind of a Graph API error from its code, falling back on the HTTP status."""
    if code is not None and code in _KINDS:
        return _KINDS[code]
    if status == 429:
        return ErrorKind.RATE_LIMIT
    if status in (401, 403):
        return ErrorKind.UNAUTHORIZED
    if status >= 500 or status == 0:
        return ErrorKind.TRANSIENT
    return ErrorKind.REJECTED


class GraphError(Exception):
    """A failed Graph API call: `code` is Meta's error code (None for network failures)."""

    def __init__(
        self, status: int, code: int | None, message: str, details: str = "", title: str = ""
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.title = title
        self.kind = classify(code, status)
        super().__init__(self.describe())

    def describe(self) -> str:
        code = f"#{self.code} " if self.code is not None else ""
        extra = f" ({self.details})" if self.details and self.details not in self.message else ""
        return f"{code}{self.message}{extra} [HTTP {self.status}]"[:500]


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    id: str
    display_phone_number: str
    verified_name: str


def error_from_body(status: int, body: Any) -> GraphError:
    """Meta's error object -> GraphError; anything else -> a generic one for the status."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return GraphError(status, None, f"HTTP {status} without a Graph API error body")
    raw_code = error.get("code")
    code = int(raw_code) if isinstance(raw_code, int | str) and str(raw_code).isdigit() else None
    data = error.get("error_data")
    details = str(data.get("details", "")) if isinstance(data, dict) else ""
    return GraphError(
        status,
        code,
        str(error.get("message", "unknown error"))[:300],
        details[:300],
        str(error.get("error_user_title", "")),
    )


class GraphClient:
    """One httpx client for one business phone number. Build it inside the running loop."""

    def __init__(
        self,
        api_base: str,
        phone_number_id: str,
        token: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.phone_number_id = phone_number_id
        self._http = httpx.AsyncClient(
            base_url=api_base.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def phone_number(self) -> PhoneNumber:
        body = await self._request(
            "GET",
            self.phone_number_id,
            params={"fields": "display_phone_number,verified_name"},
        )
        return PhoneNumber(
            str(body.get("id", self.phone_number_id)),
            str(body.get("display_phone_number", "")),
            str(body.get("verified_name", "")),
        )

    async def send(self, payload: dict[str, Any]) -> str:
        """POST a message; returns its WhatsApp message id (wamid)."""
        body = await self._request(
            "POST",
            f"{self.phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "recipient_type": "individual", **payload},
        )
        messages = body.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return str(messages[0].get("id", ""))
        return ""

    async def upload_media(self, data: bytes, mime_type: str, filename: str) -> str:
        """Upload an image; returns the media id to send it by."""
        body = await self._request(
            "POST",
            f"{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, data, mime_type)},
        )
        media_id = body.get("id")
        if not media_id:
            raise GraphError(200, None, "the media upload answered without an id")
        return str(media_id)

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise GraphError(0, None, f"{type(error).__name__}: network failure") from None
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        if response.is_success:
            raise GraphError(response.status_code, None, "the Graph API answered without JSON")
        raise error_from_body(response.status_code, body)

"""The watchdog's own alert path: a few HTTP calls with httpx, nothing from bot/ or the app.

It must work when the app is frozen, crashed or broken, so it shares no code with the app's
notifier: Telegram `sendMessage` (plain text, so nothing can fail to parse) to every
TELEGRAM_OPERATOR_IDS, and when WhatsApp is configured the approved alert template (business-
initiated messages outside the 24-hour window must be templates) to every
WHATSAPP_OPERATOR_NUMBERS, with the alert text as the template's one body parameter.

Tokens are in the request path or header only: failures are logged with the channel, the
recipient and the HTTP status or exception type, never with the URL.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from trader.config import Settings

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
WHATSAPP_PARAMETER_LIMIT = 1024
_SPACES = re.compile(r"\s{4,}")


class AlertSender(Protocol):
    @property
    def recipients(self) -> int:
        """How many operators a message goes to (0: no channel configured)."""
        ...

    async def send(self, text: str) -> int:
        """Deliver `text` to every recipient; return how many accepted it."""
        ...


@dataclass(frozen=True, slots=True)
class TelegramTarget:
    api_base: str
    token: SecretStr
    chat_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WhatsAppTarget:
    api_base: str
    token: SecretStr
    phone_number_id: str
    numbers: tuple[str, ...]
    template_name: str
    template_language: str


def whatsapp_parameter(text: str) -> str:
    """Template parameters may not hold newlines, tabs or four spaces in a row."""
    flat = " · ".join(line.strip() for line in text.splitlines() if line.strip())
    flat = _SPACES.sub("   ", flat.replace("\t", " "))
    if len(flat) > WHATSAPP_PARAMETER_LIMIT:
        flat = flat[: WHATSAPP_PARAMETER_LIMIT - 1] + "…"
    return flat


class HttpAlertSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        telegram: TelegramTarget | None = None,
        whatsapp: WhatsAppTarget | None = None,
    ) -> None:
        self._client = client
        self._telegram = telegram
        self._whatsapp = whatsapp

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.AsyncClient) -> HttpAlertSender:
        telegram = None
        if settings.telegram_bot_token is not None and settings.telegram_operator_ids:
            telegram = TelegramTarget(
                settings.telegram_api_base,
                settings.telegram_bot_token,
                tuple(settings.telegram_operator_ids),
            )
        whatsapp = None
        if (
            settings.whatsapp_token is not None
            and settings.whatsapp_phone_number_id
            and settings.whatsapp_operator_numbers
        ):
            whatsapp = WhatsAppTarget(
                settings.whatsapp_api_base,
                settings.whatsapp_token,
                settings.whatsapp_phone_number_id,
                tuple(settings.whatsapp_operator_numbers),
                settings.whatsapp_template_name,
                settings.whatsapp_template_language,
            )
        return cls(client, telegram=telegram, whatsapp=whatsapp)

    @property
    def channels(self) -> list[str]:
        names = []
        if self._telegram is not None:
            names.append(f"telegram ({len(self._telegram.chat_ids)} operators)")
        if self._whatsapp is not None:
            names.append(f"whatsapp ({len(self._whatsapp.numbers)} operators)")
        return names

    @property
    def recipients(self) -> int:
        telegram = len(self._telegram.chat_ids) if self._telegram is not None else 0
        whatsapp = len(self._whatsapp.numbers) if self._whatsapp is not None else 0
        return telegram + whatsapp

    async def send(self, text: str) -> int:
        sends: list[Any] = []
        if self._telegram is not None:
            target = self._telegram
            sends += [self._telegram_one(target, chat_id, text) for chat_id in target.chat_ids]
        if self._whatsapp is not None:
            wa = self._whatsapp
            sends += [self._whatsapp_one(wa, number, text) for number in wa.numbers]
        if not sends:
            return 0
        results: Sequence[bool] = await asyncio.gather(*sends)
        return sum(results)

    async def _telegram_one(self, target: TelegramTarget, chat_id: int, text: str) -> bool:
        url = f"{target.api_base}/bot{target.token.get_secret_value()}/sendMessage"
        data = {
            "chat_id": str(chat_id),
            "text": text[:TELEGRAM_LIMIT],
            "disable_web_page_preview": "true",
        }
        return await self._post("telegram", str(chat_id), url, data=data)

    async def _whatsapp_one(self, target: WhatsAppTarget, number: str, text: str) -> bool:
        url = f"{target.api_base}/{target.phone_number_id}/messages"
        body = {
            "messaging_product": "whatsapp",
            "to": number,
            "type": "template",
            "template": {
                "name": target.template_name,
                "language": {"code": target.template_language},
                "components": [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": whatsapp_parameter(text)}],
                    }
                ],
            },
        }
        headers = {"Authorization": f"Bearer {target.token.get_secret_value()}"}
        return await self._post("whatsapp", number, url, json=body, headers=headers)

    async def _post(self, channel: str, recipient: str, url: str, **kwargs: Any) -> bool:
        try:
            response = await self._client.post(url, **kwargs)
        except httpx.HTTPError as error:
            kind = type(error).__name__
            log.warning("watchdog alert to %s %s failed: %s", channel, recipient, kind)
            return False
        if response.is_success:
            return True
        log.warning(
            "watchdog alert to %s %s refused: HTTP %d %s",
            channel,
            recipient,
            response.status_code,
            _description(response),
        )
        return False


def _description(response: httpx.Response) -> str:
    """The API's own error text (Telegram's description, Graph's error.message), short."""
    try:
        payload = response.json()
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    error = payload.get("error")
    text = payload.get("description") or (error.get("message") if isinstance(error, dict) else "")
    return str(text or "")[:200]

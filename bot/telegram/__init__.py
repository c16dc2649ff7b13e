"""The Telegram transport (aiogram 3): build it with `build_telegram`, then start and stop."""

from __future__ import annotations

from bot.telegram.dispatcher import create_dispatcher
from bot.telegram.outbox import FloodPolicy, Outbox
from bot.telegram.polling import PollingConfig
from bot.telegram.transport import (
    TelegramError,
    TelegramSettings,
    TelegramTransport,
    WebhookConfig,
    build_telegram,
)

__all__ = [
    "FloodPolicy",
    "Outbox",
    "PollingConfig",
    "TelegramError",
    "TelegramSettings",
    "TelegramTransport",
    "WebhookConfig",
    "build_telegram",
    "create_dispatcher",
]

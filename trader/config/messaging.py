"""The settings of the chat transports: Telegram and WhatsApp."""

from __future__ import annotations

import re

from pydantic import BaseModel, SecretStr, field_validator

from trader.config.components import TelegramConfig
from trader.config.values import PHONE, IdList, PhoneList, http_url, split_list


class MessagingSettings(BaseModel):
    """Part of `Settings`: the Telegram bot and the WhatsApp Cloud API."""

    # telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_operator_ids: IdList = ()
    telegram_viewer_ids: IdList = ()

    # whatsapp
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_base: str = "https://graph.facebook.com/v21.0"
    whatsapp_operator_numbers: PhoneList = ()
    whatsapp_viewer_numbers: PhoneList = ()
    whatsapp_template_name: str = "polyops_alert"
    whatsapp_template_language: str = "en"

    @field_validator("telegram_operator_ids", "telegram_viewer_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> tuple[int, ...]:
        parts = split_list(value)
        bad = [part for part in parts if not re.fullmatch(r"-?\d+", part)]
        if bad:
            raise ValueError(f"not a numeric Telegram user id: {', '.join(bad)}")
        return tuple(int(part) for part in parts)

    @field_validator("whatsapp_operator_numbers", "whatsapp_viewer_numbers", mode="before")
    @classmethod
    def _phones(cls, value: object) -> tuple[str, ...]:
        parts = [part.lstrip("+").replace(" ", "") for part in split_list(value)]
        bad = [part for part in parts if not PHONE.fullmatch(part)]
        if bad:
            raise ValueError(f"not a phone number in international format: {', '.join(bad)}")
        return tuple(parts)

    @field_validator("telegram_api_base", "whatsapp_api_base")
    @classmethod
    def _api_bases(cls, value: str | None) -> str | None:
        return http_url(value)

    def telegram(self) -> TelegramConfig | None:
        if self.telegram_bot_token is None:
            return None
        return TelegramConfig(
            token=self.telegram_bot_token,
            api_base=self.telegram_api_base,
            operator_ids=frozenset(self.telegram_operator_ids),
            viewer_ids=frozenset(self.telegram_viewer_ids),
        )

    @property
    def whatsapp_on(self) -> bool:
        """WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID set (`bot.whatsapp.WhatsAppConfig` is
        built then): the app imports the WhatsApp transport only when this is true."""
        return self.whatsapp_token is not None and bool(self.whatsapp_phone_number_id)

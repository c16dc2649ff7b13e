"""The settings of the operator and of mission control: time zone and report, liveness, the
HTTP server and the logs, this trader's name, the Control API, the hub and the web page."""

from __future__ import annotations

import re
import zoneinfo
from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from trader.config.components import HttpConfig
from trader.config.values import HHMM, ROLES, instance_name, name_pairs, split_list


class OperatorSettings(BaseModel):
    """Part of `Settings`: operator, chat, liveness; mission control."""

    # operator, chat, liveness
    operator_tz: str = "UTC"
    report_time: str = "07:00"
    # a chat command that changes something and is older than this is refused (bot/access.py)
    chat_command_max_age_s: int = Field(default=300, ge=30, le=86_400)
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    watchdog_timeout_s: float = Field(default=60.0, gt=0)
    watchdog_cancel_after_s: float = Field(default=300.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8081, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False

    # mission control: this trader's name, its Control API over HTTP, the hub's instances
    trader_name: str = "main"
    control_api_enabled: bool = False  # serve the Control API on the HTTP server
    control_api_secret: SecretStr | None = None  # the HMAC key the hub signs requests with
    control_api_max_skew_s: int = Field(default=30, ge=5, le=300)
    hub_instances: Annotated[tuple[tuple[str, str], ...], NoDecode] = ()  # name=url,...
    hub_secrets: SecretStr | None = None  # name=secret,... (each instance's own secret)
    hub_poll_s: float = Field(default=10.0, gt=0)  # how often the hub asks each instance
    # the web page: name=role=hash,... (role operator or viewer; hash from `trader web-password`)
    web_users: SecretStr | None = None
    web_session_minutes: int = Field(default=30, ge=1, le=1440)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("trader_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return instance_name(value)

    @field_validator("hub_instances", mode="before")
    @classmethod
    def _instances(cls, value: object) -> tuple[tuple[str, str], ...]:
        pairs = name_pairs(value, "an instance")
        for _name, url in pairs:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {url}")
        return tuple((name, url.rstrip("/")) for name, url in pairs)

    @field_validator("operator_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("report_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.fullmatch(value.strip()):
            raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
        return value.strip()

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.operator_tz)

    @property
    def report_at(self) -> time:
        hours, minutes = self.report_time.split(":")
        return time(int(hours), int(minutes))

    def http(self) -> HttpConfig:
        return HttpConfig(host=self.http_host, port=self.http_port)

    def web_user_map(self) -> dict[str, tuple[str, str]]:
        """WEB_USERS as name -> (role, password hash); ValueError naming what is wrong."""
        users: dict[str, tuple[str, str]] = {}
        raw = self.web_users.get_secret_value() if self.web_users else ""
        for part in split_list(raw):
            name, role, hashed = (*part.split("=", 2), "", "")[:3]
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name) or role not in ROLES or not hashed:
                raise ValueError("expected name=operator|viewer=hash entries separated by commas")
            if not hashed.startswith("pbkdf2_sha256$"):
                raise ValueError(f"the hash of {name} is not one `trader web-password` makes")
            if name in users:
                raise ValueError(f"{name} appears twice")
            users[name] = (role, hashed)
        return users

    def hub_secret_map(self) -> dict[str, SecretStr]:
        """HUB_SECRETS as name -> secret (validated with the settings)."""
        if self.hub_secrets is None:
            return {}
        pairs = name_pairs(self.hub_secrets.get_secret_value(), "a secret")
        return {name: SecretStr(secret) for name, secret in pairs}

"""The checks across settings: each problem is one line naming the setting, never a secret.

`Settings` runs `cross_field_problems` after every field is valid (its model validator);
`load_settings` runs `database_directory_problem` on settings that are valid otherwise."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from trader.config.values import (
    DATA_DIRECTORY,
    MIN_CONTROL_SECRET,
    TELEGRAM_TOKEN,
    is_loopback,
)
from trader.domain import TradingMode

if TYPE_CHECKING:
    from trader.config.settings import Settings

MAKER_GTD_LEAD_S = 185  # trader.execution.maker: GTD_MIN_LEAD + GTD_MARGIN


# Cross-field rules: (setting named in the message, predicate over settings, message).
def cross_field_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.trading_mode is TradingMode.LIVE and settings.polymarket_private_key is None:
        problems.append("POLYMARKET_PRIVATE_KEY: required when TRADING_MODE=live")
    if settings.polymarket_private_key is not None:
        raw = settings.polymarket_private_key.get_secret_value().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", raw):
            problems.append("POLYMARKET_PRIVATE_KEY: expected 64 hex digits (value not shown)")
    problems += _wallet_problems(settings)
    if settings.telegram_bot_token is not None and not TELEGRAM_TOKEN.fullmatch(
        settings.telegram_bot_token.get_secret_value()
    ):
        problems.append(
            "TELEGRAM_BOT_TOKEN: expected the form 123456789:AAE... from @BotFather "
            "(value not shown)"
        )
    whatsapp = (settings.whatsapp_token, settings.whatsapp_phone_number_id)
    if any(whatsapp) and not all(whatsapp):
        problems.append("WHATSAPP_PHONE_NUMBER_ID: WHATSAPP_TOKEN and it go together")
    if settings.whatsapp_token is not None and settings.whatsapp_app_secret is None:
        problems.append("WHATSAPP_APP_SECRET: required to verify webhook signatures")
    if settings.watchdog_timeout_s <= settings.heartbeat_interval_s:
        problems.append("WATCHDOG_TIMEOUT_S: must be longer than HEARTBEAT_INTERVAL_S")
    return (
        problems
        + _order_rule_problems(settings)
        + _retrieval_problems(settings)
        + _mission_control_problems(settings)
    )


def _order_rule_problems(settings: Settings) -> list[str]:
    """Exits and maker entries: settings that only make sense against each other."""
    problems: list[str] = []
    if settings.exit_stop_horizon_s > settings.exit_close_horizon_s:
        problems.append("EXIT_STOP_HORIZON_S: must not be longer than EXIT_CLOSE_HORIZON_S")
    if settings.maker_entry and settings.maker_ttl_s < settings.maker_reprice_s:
        problems.append(
            "MAKER_TTL_S: must be at least MAKER_REPRICE_S (a maker entry would lapse before "
            "its first reprice)"
        )
    elif settings.maker_entry and settings.maker_ttl_s <= MAKER_GTD_LEAD_S:
        problems.append(
            f"MAKER_TTL_S: must be more than {MAKER_GTD_LEAD_S} (the venue's 180 s GTD lead and "
            "5 s of margin: a maker order rests GTD, expiring with its entry, or not at all)"
        )
    return problems


def _retrieval_problems(settings: Settings) -> list[str]:
    if settings.retrieval_enabled and not settings.search_providers():
        return [
            "RETRIEVAL_PROVIDERS: no usable search provider with RETRIEVAL_ENABLED on "
            "(exa needs EXA_API_KEY)"
        ]
    return []


def _wallet_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    kind = settings.polymarket_signature_type
    if kind in (1, 2) and not settings.polymarket_funder:
        problems.append(
            "POLYMARKET_FUNDER: required when POLYMARKET_SIGNATURE_TYPE is 1 or 2 (the proxy or "
            "Safe address shown on polymarket.com)"
        )
    if kind == 0 and settings.polymarket_funder:
        problems.append(
            "POLYMARKET_FUNDER: not used with POLYMARKET_SIGNATURE_TYPE=0 (an EOA trades from the "
            "key's own address): unset it, or set the type of the wallet it names (1 proxy, 2 "
            "Safe, 3 deposit wallet)"
        )
    key, address = settings.polymarket_relayer_api_key, settings.polymarket_relayer_api_key_address
    if key is not None and address is None:
        problems.append(
            "POLYMARKET_RELAYER_API_KEY_ADDRESS: required with POLYMARKET_RELAYER_API_KEY (the "
            "address the key was issued to)"
        )
    if address is not None and key is None:
        problems.append(
            "POLYMARKET_RELAYER_API_KEY: required with POLYMARKET_RELAYER_API_KEY_ADDRESS"
        )
    if key is not None and kind == 0:
        problems.append(
            "POLYMARKET_RELAYER_API_KEY: not used with POLYMARKET_SIGNATURE_TYPE=0 (an EOA sends "
            "its own transactions): unset it, or trade through a deposit wallet (3)"
        )
    return problems


def _mission_control_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.control_api_enabled:
        secret = settings.control_api_secret
        if secret is None or len(secret.get_secret_value()) < MIN_CONTROL_SECRET:
            problems.append(
                f"CONTROL_API_SECRET: required when CONTROL_API_ENABLED is on, at least "
                f"{MIN_CONTROL_SECRET} characters (value not shown)"
            )
        if not is_loopback(settings.http_host):
            problems.append(
                f"HTTP_HOST: the Control API is plain HTTP and may not be served on "
                f"{settings.http_host}: bind 127.0.0.1 (reach it through an SSH tunnel or a "
                "TLS-terminating proxy on the same machine)"
            )
    problems += _web_problems(settings)
    try:
        secrets = settings.hub_secret_map()
    except ValueError as error:
        return [*problems, f"HUB_SECRETS: {error} (values not shown)"]
    names = [name for name, _url in settings.hub_instances]
    missing = [name for name in names if name not in secrets]
    if missing:
        problems.append(f"HUB_SECRETS: no secret for {', '.join(missing)}")
    short = [n for n in names if n in secrets and len(secrets[n].get_secret_value()) < 32]
    if short:
        problems.append(f"HUB_SECRETS: shorter than 32 characters for {', '.join(short)}")
    return problems


def _web_problems(settings: Settings) -> list[str]:
    if settings.web_users is None:
        return []
    problems: list[str] = []
    try:
        settings.web_user_map()
    except ValueError as error:
        problems.append(f"WEB_USERS: {error} (values not shown)")
    if not is_loopback(settings.http_host):
        problems.append(
            f"HTTP_HOST: the web page's logins are plain HTTP and may not be served on "
            f"{settings.http_host}: bind 127.0.0.1 (behind a TLS-terminating proxy on this machine)"
        )
    return problems


def database_directory_problem(url: str) -> str | None:
    """A SQLite file must go into an existing directory: a typo in DATABASE_URL must not
    quietly create a second, empty database elsewhere. Only ./data is created on first use."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix):
        return None
    database = url.removeprefix(prefix).split("?", 1)[0]
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    directory = Path(database).parent
    if directory.is_dir() or directory.resolve() == DATA_DIRECTORY.resolve():
        return None
    return (
        f"DATABASE_URL: the directory {directory} does not exist "
        "(create it first; only ./data is created on first use)"
    )

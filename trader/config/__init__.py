"""Settings: read once from the environment and `.env`, validated before anything starts.

`load_settings()` either returns a valid, frozen `Settings` or raises `ConfigError` whose
`problems` are one line per problem, each naming the setting. Secret values never appear in
those lines. Components receive the small frozen config they need (`settings.venue()`, ...),
never the whole `Settings`.

The package: `settings` (the class, composed of one part per area: `venue`, `messaging`,
`forecasting`, `trading`, `operating`; and the loading), `problems` (the checks across
settings), `components` (the small configs), `values` (the shared value rules).
"""

from __future__ import annotations

from trader.config.components import HttpConfig, TelegramConfig, VenueConfig
from trader.config.problems import MAKER_GTD_LEAD_S, database_directory_problem
from trader.config.settings import ConfigError, Settings, load_settings
from trader.config.values import (
    DATA_DIRECTORY,
    DEFAULT_DATABASE_URL,
    INSTANCE_NAME,
    MIN_CONTROL_SECRET,
    RETRIEVAL_PROVIDERS,
    SIGNATURE_TYPES,
    instance_name,
)

__all__ = [
    "DATA_DIRECTORY",
    "DEFAULT_DATABASE_URL",
    "INSTANCE_NAME",
    "MAKER_GTD_LEAD_S",
    "MIN_CONTROL_SECRET",
    "RETRIEVAL_PROVIDERS",
    "SIGNATURE_TYPES",
    "ConfigError",
    "HttpConfig",
    "Settings",
    "TelegramConfig",
    "VenueConfig",
    "database_directory_problem",
    "instance_name",
    "load_settings",
]

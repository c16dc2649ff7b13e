"""`Settings`, composed of the areas' parts, and `load_settings`, which returns a valid, frozen
`Settings` or raises `ConfigError` with one line per problem, each naming the setting."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trader.config.forecasting import ForecastSettings
from trader.config.messaging import MessagingSettings
from trader.config.operating import OperatorSettings
from trader.config.problems import cross_field_problems, database_directory_problem
from trader.config.trading import TradingSettings
from trader.config.venue import VenueSettings
from trader.envfile import ENCODING as ENV_FILE_ENCODING
from trader.envfile import env_file_problems


class ConfigError(Exception):
    """Start-up configuration is invalid; `problems` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# The parts are listed last area first: pydantic takes the fields of the bases in reverse
# order of the MRO, so the fields (and the problem lines) keep the order of the areas: venue,
# messaging, forecasts, trading, operator.
class Settings(
    OperatorSettings,
    TradingSettings,
    ForecastSettings,
    MessagingSettings,
    VenueSettings,
    BaseSettings,
):
    """Every setting Polyops reads. The names are the public interface (see .env.example);
    each area's fields, validators and small configs are in its part (`VenueSettings`...)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding=ENV_FILE_ENCODING,
        env_ignore_empty=True,  # `KEY=` in .env or the environment means "not set"
        extra="ignore",
        frozen=True,
        case_sensitive=False,
    )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = cross_field_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _problem_lines(error: ValidationError) -> list[str]:
    lines: list[str] = []
    for item in error.errors(include_input=False, include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["loc"]:
            lines.append(f"{str(item['loc'][0]).upper()}: {message}")
        else:  # model-level: the cross-field messages already name their settings
            lines.extend(part.strip() for part in message.split("; "))
    return lines


def load_settings(env_file: str | None = ".env", **overrides: Any) -> Settings:
    """Read and validate the settings, or raise `ConfigError` with one line per problem.

    A `.env` that cannot be read or parsed is refused before any value is taken from it."""
    if env_file is not None:
        file_problems = env_file_problems(env_file)
        if file_problems:
            raise ConfigError(file_problems)
    try:
        settings = Settings(_env_file=env_file, **overrides)
    except ValidationError as error:
        problems = _problem_lines(error)
        bad = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
    else:
        problem = database_directory_problem(settings.database_url)
        if problem is None:
            return settings
        raise ConfigError([problem])
    if bad:
        # Re-check with the broken fields at their defaults, so cross-field problems show too.
        defaults = {name: Settings.model_fields[name].get_default() for name in bad}
        try:
            Settings(_env_file=env_file, **{**overrides, **defaults})
        except ValidationError as again:
            named = {name.upper() for name in bad}  # each already has its line
            problems += [
                line
                for line in _problem_lines(again)
                if line not in problems and line.split(":", 1)[0] not in named
            ]
    raise ConfigError(problems)

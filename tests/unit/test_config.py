from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trader.config import ConfigError, load_settings
from trader.domain import TradingMode

SECRET_KEY = "0x" + "ab12" * 16
SECRET_TOKEN = "123456789:AAFakeTelegramTokenThatIsSecret_0123456"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("POLYMARKET_", "TELEGRAM_", "WHATSAPP_", "TRADING_", "OPERATOR_")):
            monkeypatch.delenv(name, raising=False)


def write_env(tmp_path: Path, text: str) -> str:
    path = tmp_path / ".env"
    path.write_text(text)
    return str(path)


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings(None)
    assert settings.database_url == "sqlite+aiosqlite:///./data/polyops.db"
    assert settings.trading_mode is TradingMode.PAPER
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.operator_tz == "UTC"
    assert settings.report_time == "07:00"
    assert settings.heartbeat_interval_s == 10
    assert settings.watchdog_timeout_s == 60
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8081)
    assert settings.min_volume_usd == Decimal(50_000)


def test_env_file_values_are_parsed(tmp_path: Path) -> None:
    env = write_env(
        tmp_path,
        "TELEGRAM_OPERATOR_IDS=11, 22\nWHATSAPP_VIEWER_NUMBERS=+44 7700900123\n"
        "OPERATOR_TZ=Europe/Berlin\nREPORT_TIME=06:30\n",
    )
    settings = load_settings(env)
    assert settings.telegram_operator_ids == (11, 22)
    assert settings.whatsapp_viewer_numbers == ("447700900123",)
    assert settings.report_at.hour == 6
    assert str(settings.zone) == "Europe/Berlin"


@pytest.mark.parametrize(
    ("line", "setting"),
    [
        ("TRADING_MODE=live", "POLYMARKET_PRIVATE_KEY"),
        ("OPERATOR_TZ=Mars/Olympus", "OPERATOR_TZ"),
        ("TELEGRAM_OPERATOR_IDS=12,abc", "TELEGRAM_OPERATOR_IDS"),
        ("MAX_OPEN_ORDERS=lots", "MAX_OPEN_ORDERS"),
        ("MAX_ORDER_NOTIONAL_USD=ten", "MAX_ORDER_NOTIONAL_USD"),
        ("REPORT_TIME=7am", "REPORT_TIME"),
        ("DATABASE_URL=mysql://x", "DATABASE_URL"),
        ("POLYMARKET_PRIVATE_KEY=not-hex", "POLYMARKET_PRIVATE_KEY"),
    ],
)
def test_each_bad_setting_is_named(tmp_path: Path, line: str, setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_env(tmp_path, line + "\n"))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(setting + ":")


def test_several_problems_give_one_line_each(tmp_path: Path) -> None:
    env = write_env(
        tmp_path,
        "TRADING_MODE=live\nOPERATOR_TZ=Nowhere/Land\nTELEGRAM_VIEWER_IDS=x\nHTTP_PORT=99999\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    named = sorted(line.split(":")[0] for line in caught.value.problems)
    assert named == ["HTTP_PORT", "OPERATOR_TZ", "POLYMARKET_PRIVATE_KEY", "TELEGRAM_VIEWER_IDS"]


def test_cli_exits_2_with_one_line_per_problem_and_no_secret(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"TRADING_MODE=live\nPOLYMARKET_PRIVATE_KEY={SECRET_KEY[:-2]}zz\n"
        f"TELEGRAM_BOT_TOKEN={SECRET_TOKEN}\nTELEGRAM_OPERATOR_IDS=me\nOPERATOR_TZ=Bad/Zone\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "trader.cli", "check-config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    problems = [line for line in lines if ":" in line and line.split(":")[0].isupper()]
    assert {p.split(":")[0] for p in problems} == {
        "POLYMARKET_PRIVATE_KEY",
        "TELEGRAM_OPERATOR_IDS",
        "OPERATOR_TZ",
    }
    output = result.stdout + result.stderr
    assert SECRET_KEY[2:-2] not in output
    assert SECRET_TOKEN not in output
    assert "Traceback" not in output


def test_env_example_documents_every_setting_with_its_default() -> None:
    from trader.config import Settings

    example = Path(__file__).resolve().parents[2] / ".env.example"
    documented: dict[str, str] = {}
    for line in example.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            documented[name] = value
    assert set(documented) == {name.upper() for name in Settings.model_fields}
    settings = load_settings(None)
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None or value == ():
            assert documented[name.upper()] == "", name
        elif isinstance(value, bool):
            assert documented[name.upper()] == str(value).lower(), name
        elif isinstance(value, int | float | Decimal):
            assert Decimal(str(value)) == Decimal(documented[name.upper()]), name
        else:
            shown = value.value if hasattr(value, "value") else value
            assert str(shown) == documented[name.upper()], name


def _documented() -> dict[str, str]:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    return {
        name: value
        for name, _, value in (
            line.partition("=")
            for line in example.read_text().splitlines()
            if line and not line.startswith("#")
        )
    }


def test_env_example_loads_unchanged_as_a_dot_env(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    env = write_env(tmp_path, example.read_text())
    settings = load_settings(env)
    assert settings.polymarket_private_key is None
    assert settings.polymarket_signature_type == 3  # the deposit wallet
    assert settings.telegram() is None
    assert settings.whatsapp_token is None
    assert settings.anthropic_base_url is None
    assert settings == load_settings(None)


def test_every_documented_value_is_read_back_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trader.config import Settings

    documented = _documented()
    for name, value in documented.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None)
    defaults = Settings.model_construct()
    for name in Settings.model_fields:
        value = documented[name.upper()]
        read = getattr(settings, name)
        if value == "":  # empty means not set: the default
            assert read == getattr(defaults, name), name
        elif isinstance(read, bool):
            assert str(read).lower() == value, name
        elif isinstance(read, int | float | Decimal):
            assert Decimal(str(read)) == Decimal(value), name
        else:
            assert str(getattr(read, "value", read)) == value, name


@pytest.mark.parametrize("kind", ["0", "1", "2", "3"])
def test_every_signature_type_is_settable_from_env_and_dot_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    address = "0x" + "12" * 20
    funder = "" if kind == "0" else f"POLYMARKET_FUNDER={address}\n"  # an EOA has none
    from_file = load_settings(write_env(tmp_path, f"POLYMARKET_SIGNATURE_TYPE={kind}\n{funder}"))
    monkeypatch.setenv("POLYMARKET_SIGNATURE_TYPE", kind)
    if funder:
        monkeypatch.setenv("POLYMARKET_FUNDER", address)
    from_env = load_settings(None)
    assert from_file.polymarket_signature_type == from_env.polymarket_signature_type == int(kind)
    assert from_env.venue().signature_type == int(kind)


def test_a_bad_signature_type_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYMARKET_SIGNATURE_TYPE", "4")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert [line.split(":")[0] for line in caught.value.problems] == ["POLYMARKET_SIGNATURE_TYPE"]


def test_empty_values_in_the_environment_mean_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TELEGRAM_BOT_TOKEN", "WHATSAPP_TOKEN", "POLYMARKET_PRIVATE_KEY", "HTTP_PORT"):
        monkeypatch.setenv(name, "")
    settings = load_settings(None)
    assert settings.telegram() is None
    assert settings.whatsapp_token is None
    assert settings.polymarket_private_key is None
    assert settings.http_port == 8081


def test_a_malformed_telegram_token_is_a_named_problem_not_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_env(tmp_path, "TELEGRAM_BOT_TOKEN=not-a-token-at-all\n"))
    assert [line.split(":")[0] for line in caught.value.problems] == ["TELEGRAM_BOT_TOKEN"]
    assert "not-a-token-at-all" not in caught.value.problems[0]


def test_check_config_on_a_copy_of_env_example_says_ok(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMARKET_", "TELEGRAM_"))}
    result = subprocess.run(
        [sys.executable, "-m", "trader.cli", "check-config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration ok")


# --- mission control settings ---------------------------------------------------------------


def test_trader_name_defaults_to_main_and_is_validated() -> None:
    assert load_settings(None).trader_name == "main"
    assert load_settings(None, trader_name="beta").trader_name == "beta"
    for bad in ("Beta", "all", "has space", "x" * 30, ""):
        with pytest.raises(ConfigError) as refused:
            load_settings(None, trader_name=bad)
        assert refused.value.problems[0].startswith("TRADER_NAME:")


def test_control_api_needs_a_long_secret_and_a_loopback_bind() -> None:
    with pytest.raises(ConfigError) as no_secret:
        load_settings(None, control_api_enabled=True)
    assert [p.split(":")[0] for p in no_secret.value.problems] == ["CONTROL_API_SECRET"]
    with pytest.raises(ConfigError) as exposed:
        load_settings(
            None,
            control_api_enabled=True,
            control_api_secret="k" * 40,
            http_host="0.0.0.0",  # noqa: S104 - refused
        )
    assert len(exposed.value.problems) == 1
    assert exposed.value.problems[0].startswith("HTTP_HOST: the Control API is plain HTTP")
    ok = load_settings(None, control_api_enabled=True, control_api_secret="k" * 40)
    assert ok.control_api_enabled


def test_hub_instances_and_their_secrets() -> None:
    settings = load_settings(
        None,
        hub_instances="alpha=http://127.0.0.1:8081, beta=http://127.0.0.1:8082/",
        hub_secrets=f"alpha={'a' * 32},beta={'b' * 32}",
    )
    assert settings.hub_instances == (
        ("alpha", "http://127.0.0.1:8081"),
        ("beta", "http://127.0.0.1:8082"),
    )
    assert settings.hub_secret_map()["beta"].get_secret_value() == "b" * 32
    with pytest.raises(ConfigError) as missing:
        load_settings(None, hub_instances="alpha=http://127.0.0.1:8081", hub_secrets="")
    assert missing.value.problems == ["HUB_SECRETS: no secret for alpha"]
    with pytest.raises(ConfigError) as twice:
        load_settings(None, hub_instances="a=http://x,a=http://y")
    assert twice.value.problems[0].startswith("HUB_INSTANCES:")
    with pytest.raises(ConfigError) as short:
        load_settings(None, hub_instances="alpha=http://127.0.0.1:8081", hub_secrets="alpha=short")
    assert short.value.problems == ["HUB_SECRETS: shorter than 32 characters for alpha"]
    assert "short" not in " ".join(short.value.problems[0].split(":")[1:]).replace("shorter", "")


def test_retrieval_is_on_with_an_llm_key_and_off_without_one() -> None:
    from trader.signals.retrieval.settings import search_settings

    without = load_settings(None)
    with_key = load_settings(None, anthropic_api_key="sk-ant-x")
    with_exa = load_settings(None, openai_api_key="sk-o", exa_api_key="exa-x")
    switched_off = load_settings(None, anthropic_api_key="sk-ant-x", retrieval_enabled=False)

    assert search_settings(without).providers == ()
    assert search_settings(with_key).providers == ("gdelt",)  # exa has no key: left out
    assert search_settings(with_exa).providers == ("gdelt", "exa")
    assert search_settings(switched_off).providers == ()
    assert search_settings(with_key).retrieval.token_budget == 3000
    assert search_settings(with_key).retrieval.reuse == timedelta(hours=1)
    off = load_settings(None, anthropic_api_key="sk-ant-x", retrieval_reuse_s=0)
    assert search_settings(off).retrieval.reuse == timedelta(0)


@pytest.mark.parametrize(
    ("line", "setting"),
    [
        ("RETRIEVAL_PROVIDERS=gdelt,bing", "RETRIEVAL_PROVIDERS"),
        ("RETRIEVAL_ENABLED=true\nRETRIEVAL_PROVIDERS=exa", "RETRIEVAL_PROVIDERS"),
        ("GDELT_BASE_URL=api.gdeltproject.org", "GDELT_BASE_URL"),
        ("EXA_BASE_URL=ftp://exa", "EXA_BASE_URL"),
        ("RETRIEVAL_TOKEN_BUDGET=10", "RETRIEVAL_TOKEN_BUDGET"),
        ("RETRIEVAL_MAX_QUERIES=0", "RETRIEVAL_MAX_QUERIES"),
        ("RETRIEVAL_REUSE_S=-1", "RETRIEVAL_REUSE_S"),
        ("RETRIEVAL_REUSE_S=an hour", "RETRIEVAL_REUSE_S"),
    ],
)
def test_a_bad_retrieval_setting_is_named(tmp_path: Path, line: str, setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_env(tmp_path, line + "\n"))
    assert [p.split(":")[0] for p in caught.value.problems] == [setting]


def test_the_deposit_wallet_is_the_default_signature_type() -> None:
    settings = load_settings(None)

    assert settings.polymarket_signature_type == 3
    assert settings.venue().signature_type == 3
    assert settings.venue().relayer_api_key is None


def test_a_bad_signature_type_names_every_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYMARKET_SIGNATURE_TYPE", "eoa")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert caught.value.problems == [
        "POLYMARKET_SIGNATURE_TYPE: expected 0 (EOA), 1 (Polymarket proxy), 2 (Gnosis Safe), "
        "3 (deposit wallet, the default), got 'eoa'"
    ]


def test_relayer_key_and_its_address_go_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYMARKET_RELAYER_API_KEY", "relayer-secret-value-1234")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert [line.split(":")[0] for line in caught.value.problems] == [
        "POLYMARKET_RELAYER_API_KEY_ADDRESS"
    ]
    assert "relayer-secret-value-1234" not in str(caught.value)

    monkeypatch.delenv("POLYMARKET_RELAYER_API_KEY")
    monkeypatch.setenv("POLYMARKET_RELAYER_API_KEY_ADDRESS", "0x" + "ab" * 20)
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert [line.split(":")[0] for line in caught.value.problems] == ["POLYMARKET_RELAYER_API_KEY"]


def test_a_funder_with_an_eoa_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK would take a funder the key does not own for another kind of wallet."""
    monkeypatch.setenv("POLYMARKET_SIGNATURE_TYPE", "0")
    monkeypatch.setenv("POLYMARKET_FUNDER", "0x" + "12" * 20)

    with pytest.raises(ConfigError) as caught:
        load_settings(None)

    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("POLYMARKET_FUNDER: not used with")


def test_wallet_settings_each_problem_is_one_line_naming_its_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLYMARKET_SIGNATURE_TYPE", "0")
    monkeypatch.setenv("POLYMARKET_RELAYER_API_KEY", "relayer-secret-value-1234")
    monkeypatch.setenv("POLYMARKET_RELAYER_API_KEY_ADDRESS", "0x12")
    monkeypatch.setenv("POLYMARKET_FUNDER", "not-an-address")
    monkeypatch.setenv("RELAYER_HOST", "relayer.example")

    with pytest.raises(ConfigError) as caught:
        load_settings(None)

    assert sorted(line.split(":")[0] for line in caught.value.problems) == [
        "POLYMARKET_FUNDER",
        "POLYMARKET_RELAYER_API_KEY",  # not used by an EOA
        "POLYMARKET_RELAYER_API_KEY_ADDRESS",
        "RELAYER_HOST",
    ]


def test_relayer_settings_reach_the_venue_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYMARKET_RELAYER_API_KEY", "relayer-secret-value-1234")
    monkeypatch.setenv("POLYMARKET_RELAYER_API_KEY_ADDRESS", "0x" + "ab" * 20)
    monkeypatch.setenv("RELAYER_HOST", "http://127.0.0.1:9/")
    monkeypatch.setenv("POLYGON_RPC_URL", "http://127.0.0.1:8/rpc")

    venue = load_settings(None).venue()

    assert venue.relayer_api_key is not None
    assert venue.relayer_api_key.get_secret_value() == "relayer-secret-value-1234"
    assert venue.relayer_api_key_address == "0x" + "ab" * 20
    assert (venue.relayer_host, venue.polygon_rpc_url) == (
        "http://127.0.0.1:9",
        "http://127.0.0.1:8/rpc",
    )
    assert "relayer-secret-value-1234" not in repr(venue)

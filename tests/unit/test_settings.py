"""Settings: defaults, environment variables, validation, the cost model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from merit_order.calculator import CostModel
from merit_order.settings import Settings, get_settings

ENV_VARS = [
    "HOST", "PORT", "WORKERS", "LOG_LEVEL", "LOG_FORMAT", "GAS_CO2_T_PER_MWH", "KEROSINE_CO2_T_PER_MWH",
    "WIND_CURTAILMENT", "MAX_PLANTS", "MAX_LOAD_MW", "MAX_PLANT_MW", "MAX_COST_PER_MWH", "MAX_BODY_BYTES",
    "REDIS_URL",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port, s.workers) == ("0.0.0.0", 3000, 1)
    assert (s.log_level, s.log_format) == ("INFO", "json")
    assert (s.gas_co2_t_per_mwh, s.kerosine_co2_t_per_mwh, s.wind_curtailment) == (0.3, 0.0, False)
    assert (s.max_plants, s.max_load_mw, s.max_body_bytes) == (500, 50_000.0, 1024 * 1024)
    assert s.redis_url is None


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "HOST": "127.0.0.1", "PORT": "8080", "WORKERS": "3", "LOG_LEVEL": "debug", "LOG_FORMAT": "Console",
        "GAS_CO2_T_PER_MWH": "0.4", "KEROSINE_CO2_T_PER_MWH": "0.7", "WIND_CURTAILMENT": "true",
        "MAX_PLANTS": "50", "MAX_LOAD_MW": "1000", "MAX_BODY_BYTES": "4096", "REDIS_URL": "redis://r:6379/2",
    }  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert (s.host, s.port, s.workers) == ("127.0.0.1", 8080, 3)
    assert (s.log_level, s.log_format) == ("DEBUG", "console")
    assert s.wind_curtailment is True
    assert (s.max_plants, s.max_load_mw, s.max_body_bytes) == (50, 1000.0, 4096)
    assert s.redis_url == "redis://r:6379/2"
    assert s.cost_model() == CostModel(gas_co2_t_per_mwh=0.4, kerosine_co2_t_per_mwh=0.7)


def test_empty_redis_url_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "  ")
    assert Settings().redis_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "70000"), ("PORT", "http"), ("LOG_FORMAT", "xml"), ("LOG_LEVEL", "chatty"),
     ("GAS_CO2_T_PER_MWH", "-1"), ("GAS_CO2_T_PER_MWH", "nan"), ("MAX_LOAD_MW", "0"), ("WORKERS", "0")],
)  # fmt: skip
def test_invalid_values_are_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert name.lower() in str(info.value)


def test_get_settings_is_read_once() -> None:
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()

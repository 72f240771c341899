"""Secrets that cannot leak: no file a run leaves behind, and no line it prints, holds the key or a password.

Every file under the run's working directory is scanned: the pipelines folder (load packages, trace,
state, schemas) and the DuckDB file, with and without COMETCHAT_DEBUG=1.
"""

import pytest

from .cli import run_cli
from .leaks import files_holding

DEBUG = [pytest.param({}, id="plain"), pytest.param({"COMETCHAT_DEBUG": "1"}, id="debug")]


@pytest.mark.parametrize("debug", DEBUG)
def test_a_full_run_leaves_the_key_nowhere(emulator, tmp_path, debug):
    process = run_cli(emulator, tmp_path, env_extra={"RUNTIME__LOG_LEVEL": "DEBUG", **debug})
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert list((tmp_path / "dlt" / "pipelines" / "cometchat").rglob("trace.pickle"))
    assert (tmp_path / "cometchat.duckdb").exists()
    assert emulator.api_key not in out + err
    assert files_holding(tmp_path, emulator.api_key) == []


@pytest.mark.parametrize("debug", DEBUG)
@pytest.mark.parametrize("slip", ["\n", "leading"])
def test_a_key_with_surrounding_whitespace_is_an_error_that_never_shows_it(emulator, tmp_path, debug, slip):
    key = f" {emulator.api_key}" if slip == "leading" else emulator.api_key + slip
    process = run_cli(
        emulator, tmp_path, env_extra={"SOURCES__COMETCHAT__CREDENTIALS__API_KEY": key, **debug}
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2 if not debug else process.returncode != 0
    assert "api_key has leading or trailing whitespace" in err
    assert emulator.api_key not in out + err
    assert files_holding(tmp_path, emulator.api_key) == []


@pytest.mark.parametrize("debug", DEBUG)
@pytest.mark.parametrize("secret_part", ["user:{pw}@", "?token={pw}"])
def test_a_base_url_carrying_a_password_is_refused_and_never_stored(emulator, tmp_path, debug, secret_part):
    password = "pw-5ecret-9d2f"
    origin, path = emulator.base_url.split("/v3")[0], "/v3"
    scheme, host = origin.split("://")
    part = secret_part.format(pw=password)
    url = f"{scheme}://{part}{host}{path}" if part.endswith("@") else f"{origin}{path}{part}"
    process = run_cli(
        emulator, tmp_path, env_extra={"SOURCES__COMETCHAT__CREDENTIALS__BASE_URL": url, **debug}
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2 if not debug else process.returncode != 0
    assert "base_url must not carry" in err
    assert password not in out + err
    assert files_holding(tmp_path, password) == []

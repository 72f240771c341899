"""Contract-test fixtures: an HTTP client bound to the module's emulator."""

from collections.abc import Iterator

import pytest

from sources.cometchat_emulator import Emulator

from .client import ApiClient


@pytest.fixture(scope="module")
def api(emulator: Emulator) -> Iterator[ApiClient]:
    client = ApiClient(emulator)
    yield client
    client.session.close()


@pytest.fixture(scope="module")
def truth(emulator: Emulator) -> dict:
    return emulator.ground_truth()

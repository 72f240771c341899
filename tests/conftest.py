"""Shared fixtures: an emulator process per test module, and a factory for tests that need their own."""

from collections.abc import Callable, Iterator

import pytest

from sources.cometchat_emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """The default (small, fast) emulator, shared by the tests of one module; do not mutate it."""
    with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """`make_emulator(**knobs)` starts an emulator with EmulatorConfig(**knobs); all are stopped after the test."""
    started: list[Emulator] = []

    def make(**knobs) -> Emulator:
        emu = Emulator(EmulatorConfig(**knobs)).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()

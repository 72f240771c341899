"""1M messages: generation time, memory and page throughput. Opt-in: COMETCHAT_EMULATOR_BIG=1."""

import os
import time

import orjson
import pytest

from sources.cometchat_emulator import Emulator, EmulatorConfig

from .client import ApiClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("COMETCHAT_EMULATOR_BIG") != "1", reason="set COMETCHAT_EMULATOR_BIG=1"
    ),
]

BIG = EmulatorConfig(users=2000, groups=100, members_per_group=30, messages=1_000_000)


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_one_million_messages_generate_fast_small_and_serve_fast():
    started = time.monotonic()
    with Emulator(BIG) as emu:
        startup = time.monotonic() - started
        rss = peak_rss_mb(emu._process.pid)
        assert emu.message_count() == 1_000_000
        api = ApiClient(emu)
        params: dict = {"limit": 1000, "withTags": "true"}
        pages = messages = 0
        began = time.monotonic()
        while pages < 200:
            body = orjson.loads(api.get("/messages", params).content)
            pages, messages = pages + 1, messages + len(body["data"])
            following = body["meta"]["next"]
            params.update(affix="append", sentAt=following["sentAt"], id=following["id"])
        elapsed = time.monotonic() - began
        print(
            f"\n1M messages: startup {startup:.1f} s, peak RSS {rss:.0f} MB, "
            f"{pages / elapsed:.1f} pages/s, {messages / elapsed:.0f} messages/s (one client, limit=1000)"
        )
        assert startup < 60
        assert rss < 1024
        assert messages == 200_000

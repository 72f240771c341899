"""The command line and the subprocess lifecycle: one JSON line, loopback only, clean exits, no orphans."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sources.cometchat_emulator import Emulator, EmulatorConfig, EmulatorError
from sources.cometchat_emulator.config import derive_api_key

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--users", "6", "--groups", "1", "--members-per-group", "3", "--messages", "60"]


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sources.cometchat_emulator", "serve", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_one_json_line_and_exits_cleanly(signum):
    process = spawn("--port", "0", "--seed", "5", "--app-id", "myapp", "--api-key", "k" * 40, *SMALL)
    try:
        line = json.loads(process.stdout.readline())
        assert set(line) == {"base_url", "app_id", "api_key", "admin_url"}
        assert line["base_url"].startswith("http://127.0.0.1:") and line["base_url"].endswith("/v3")
        assert line["admin_url"] == line["base_url"].removesuffix("/v3") + "/__admin"
        assert (line["app_id"], line["api_key"]) == ("myapp", "k" * 40)
        session = requests.Session()
        session.trust_env = False
        response = session.get(line["base_url"] + "/users", headers={"apikey": "k" * 40}, timeout=10)
        assert len(response.json()["data"]) == 6
        session.close()
    finally:
        process.send_signal(signum)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out == ""
    assert "Traceback" not in err


def test_default_identity_is_derived_from_the_seed():
    key = derive_api_key(7)
    assert len(key) == 40 and all(c in "0123456789abcdef" for c in key)
    assert derive_api_key(8) != key
    assert EmulatorConfig().effective_api_key == key
    assert EmulatorConfig().app_id == "demoapp"


def test_refuses_non_loopback_hosts():
    process = spawn("--host", "0.0.0.0", *SMALL)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert out == "" and "loopback" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="loopback"):
        Emulator(EmulatorConfig(host="10.0.0.1"))


def test_stop_ends_the_process_and_calls_after_stop_fail():
    emu = Emulator(EmulatorConfig(users=4, groups=1, members_per_group=2, messages=20)).start()
    pid = emu._process.pid
    assert emu.running and emu.message_count() == 20
    emu.stop()
    assert gone(pid) and not emu.running
    with pytest.raises(EmulatorError):
        emu.stats()
    emu.stop()  # idempotent


def test_emulator_dies_with_a_killed_parent():
    script = (
        "import time\n"
        "from sources.cometchat_emulator import Emulator, EmulatorConfig\n"
        "emu = Emulator(EmulatorConfig(users=4, groups=1, members_per_group=2, messages=20)).start()\n"
        "print(emu._process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert not gone(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(child)


def test_startup_failure_is_reported(monkeypatch):
    emu = Emulator(EmulatorConfig(users=4, groups=1, members_per_group=2, messages=20))
    monkeypatch.setattr(EmulatorConfig, "to_cli_args", lambda self: ["--no-such-flag"])
    with pytest.raises(EmulatorError, match="exited during startup"):
        emu.start()
    assert not emu.running

"""`Emulator`: start the emulator as a subprocess, talk to its admin routes, and never leave it running."""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import requests

from .config import EmulatorConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_TIMEOUT = 600.0


class EmulatorError(RuntimeError):
    """The emulator process failed to start, died, or refused an admin call."""


class Emulator:
    """A running emulator process; use as a context manager, or call start()/stop()."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, startup_timeout: float | None = None, **overrides: Any
    ) -> None:
        self.config = replace(config or EmulatorConfig(), **overrides).validated()
        self.startup_timeout = startup_timeout or 60.0 + self.config.messages / 10_000
        self.base_url = ""
        self.app_id = ""
        self.api_key = ""
        self.admin_url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._session: requests.Session | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """The emulator process's id: the benchmark counts its CPU seconds."""
        if self._process is None or not self.running:
            raise RuntimeError("the emulator is not running")
        return self._process.pid

    def start(self) -> Emulator:
        if self._process is not None:
            return self
        command = [
            sys.executable,
            "-m",
            "sources.cometchat_emulator",
            "serve",
            *self.config.to_cli_args(),
            "--parent-pid",
            str(os.getpid()),
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO_ROOT,
            env=env,
        )
        atexit.register(self.stop)
        try:
            announced = json.loads(self._read_announcement())
        except BaseException:
            self.stop()
            raise
        self.base_url = announced["base_url"]
        self.app_id = announced["app_id"]
        self.api_key = announced["api_key"]
        self.admin_url = announced["admin_url"]
        self._session = requests.Session()
        self._session.trust_env = False  # never send loopback traffic through a configured proxy
        return self

    def _read_announcement(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], 0.2)
            if ready:
                line = stdout.readline()
                if line:
                    return line.decode()
            if self._process.poll() is not None:
                raise EmulatorError(f"the emulator exited during startup:\n{self._stderr_tail()}")
        raise EmulatorError(f"the emulator did not start within {self.startup_timeout:.0f} s")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-4000:]

    def stop(self) -> None:
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if self._session is not None:
            self._session.close()
            self._session = None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # -- admin calls --------------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        if self._session is None or not self.running:
            raise EmulatorError("the emulator is not running")
        response = self._session.request(
            method,
            f"{self.admin_url}/{path}",
            data=orjson.dumps(body) if body is not None else None,
            params=params,
            timeout=ADMIN_TIMEOUT,
        )
        payload = orjson.loads(response.content) if response.content else None
        if response.status_code != 200:
            message = payload.get("error") if isinstance(payload, dict) else response.text
            raise EmulatorError(f"{method} /__admin/{path} failed ({response.status_code}): {message}")
        return payload

    def ground_truth(self, messages: bool = True) -> dict[str, Any]:
        """Exactly what the emulator holds, shaped like the API (see README); messages can be left out."""
        return self._admin("GET", "ground_truth", params={"messages": "1" if messages else "0"})

    def message_count(self) -> int:
        return self._admin("GET", "message_count")["count"]

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "stats")

    def reset_stats(self) -> None:
        self._admin("POST", "stats/reset")

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change rate_limit, rate_window, latency_ms, fault_rate, fault_kinds, slow_seconds at once."""
        if "fault_kinds" in knobs and knobs["fault_kinds"] is not None:
            knobs["fault_kinds"] = [str(kind) for kind in knobs["fault_kinds"]]
        return self._admin("POST", "configure", knobs)

    def add_messages(
        self,
        count: int,
        conversation_id: str | None = None,
        sent_at: int | None = None,
        parent_id: str | int | None = None,
    ) -> list[str]:
        body = {"count": count, "conversation_id": conversation_id, "sent_at": sent_at}
        body["parent_id"] = None if parent_id is None else str(parent_id)
        return self._admin("POST", "messages", body)["ids"]

    def edit_message(self, message_id: str | int, text: str) -> str:
        """Edits the text; returns the id of the appended `edited` action message."""
        return self._admin("POST", f"messages/{message_id}/edit", {"text": text})["id"]

    def delete_message(self, message_id: str | int) -> str:
        """Soft-deletes; returns the id of the appended `deleted` action message."""
        return self._admin("POST", f"messages/{message_id}/delete", {})["id"]

    def set_conversation_tags(self, viewer_uid: str, conversation_id: str, tags: list[str]) -> None:
        self._admin(
            "PUT",
            "conversation_tags",
            {"viewer": viewer_uid, "conversation_id": conversation_id, "tags": tags},
        )

    def delete_user(self, uid: str) -> None:
        self._admin("DELETE", f"users/{uid}")

    def delete_group(self, guid: str) -> None:
        self._admin("DELETE", f"groups/{guid}")

    def delete_member(self, guid: str, uid: str) -> None:
        """Removes one membership (as a kick or a leave would); the group's conversation leaves that user's list."""
        self._admin("DELETE", f"groups/{guid}/members/{uid}")

    def delete_conversation(self, viewer_uid: str, conversation_id: str) -> None:
        """The viewer deletes the conversation for themselves; the next message in it brings it back."""
        self._admin("DELETE", f"conversations/{viewer_uid}/{conversation_id}")

    def react(self, message_id: str | int, reaction: str) -> int:
        """A later reaction: no message is appended; returns the message's new updatedAt."""
        return self._admin("POST", f"messages/{message_id}/react", {"reaction": reaction})["updatedAt"]

"""Every knob of the emulator in one dataclass, with its command-line spelling."""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import asdict, dataclass, field, fields, replace

from sources.cometchat.loopback import is_loopback

from .profiles import validate_profiles

FAULT_KINDS = ("500", "502", "503", "429", "reset", "truncate", "slow")
DEFAULT_END_TIME = 1767225600  # 2026-01-01T00:00:00Z; generation never reads the wall clock


def derive_api_key(seed: int) -> str:
    """A REST API key looks like 40 hex characters; derive one from the seed so runs are reproducible."""
    return hashlib.sha1(f"cometchat-emulator-api-key-{seed}".encode()).hexdigest()


@dataclass
class OperationalSettings:
    """The knobs that `Emulator.configure` may change while the server runs."""

    rate_limit: int = 0
    rate_window: float = 60.0
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 2.0

    def validated(self) -> OperationalSettings:
        if self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0")
        if self.rate_window <= 0:
            raise ValueError("rate_window must be > 0")
        if self.latency_ms < 0 or self.slow_seconds < 0:
            raise ValueError("latency_ms and slow_seconds must be >= 0")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be within 0..1")
        unknown = [kind for kind in self.fault_kinds if kind not in FAULT_KINDS]
        if unknown or (self.fault_rate > 0 and not self.fault_kinds):
            raise ValueError(f"fault_kinds must be a non-empty subset of {', '.join(FAULT_KINDS)}")
        return self


@dataclass
class EmulatorConfig:
    """Synthetic data shape, identity and operational behaviour of one emulator process."""

    seed: int = 7
    users: int = 40
    groups: int = 6
    members_per_group: int = 6
    user_conversations: int | None = None  # 1-on-1 pairs; None means 2 x users
    # > 0: every user takes part in this many 1-on-1 conversations, each with a message (overrides
    # user_conversations); 0 keeps the random pairs, of which only those that got a message are listed.
    conversations_per_user: int = 0
    messages: int = 2000  # total rows of the message stream, actions included
    reply_share: float = 0.12
    edited_share: float = 0.05
    deleted_share: float = 0.03
    action_share: float = 0.05
    attachment_share: float = 0.1
    reaction_share: float = 0.15
    mention_share: float = 0.08
    tag_share: float = 0.2
    span_days: float = 30.0
    end_time: int = DEFAULT_END_TIME
    app_id: str = "demoapp"
    api_key: str | None = None  # None derives a 40-hex key from the seed
    host: str = "127.0.0.1"
    port: int = 0
    rate_limit: int = 0
    rate_window: float = 60.0
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = field(default=FAULT_KINDS)
    slow_seconds: float = 2.0
    profiles: tuple[str, ...] = ()  # behaviour profiles (see profiles.py); empty = the documented behaviour

    @property
    def effective_api_key(self) -> str:
        return self.api_key or derive_api_key(self.seed)

    @property
    def effective_user_conversations(self) -> int:
        if self.conversations_per_user:
            return self.conversations_per_user // 2 * self.users + (
                self.users // 2 if self.conversations_per_user % 2 and self.users % 2 == 0 else 0
            )
        return 2 * self.users if self.user_conversations is None else self.user_conversations

    def top_level_messages(self) -> int:
        """The fewest top-level messages that `messages` leaves, whatever the groupMember actions take."""
        actions = min(self.messages, round(self.messages * self.action_share))
        remaining = self.messages - actions
        normal = int(remaining / (1.0 + self.edited_share + self.deleted_share))
        normal = remaining - int(normal * self.edited_share) - int(normal * self.deleted_share)
        return normal - int(normal * self.reply_share)

    def operational(self) -> OperationalSettings:
        names = {f.name for f in fields(OperationalSettings)}
        return OperationalSettings(**{k: v for k, v in asdict(self).items() if k in names}).validated()

    def validated(self) -> EmulatorConfig:
        for name in ("users", "groups", "members_per_group", "messages"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in (
            "reply_share",
            "edited_share",
            "deleted_share",
            "action_share",
            "attachment_share",
            "reaction_share",
            "mention_share",
            "tag_share",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        self._check_conversations_per_user()
        if self.span_days <= 0:
            raise ValueError("span_days must be > 0")
        if not is_loopback(self.host):
            raise ValueError(f"refusing to bind {self.host!r}: the emulator only listens on loopback")
        self.operational()
        self.profiles = validate_profiles(self.profiles)
        return self

    def _check_conversations_per_user(self) -> None:
        wanted = self.conversations_per_user
        if wanted < 0 or (wanted and wanted > self.users - 1):
            raise ValueError(
                f"conversations_per_user must be within 0..users - 1 ({self.users - 1}), not {wanted}"
            )
        if wanted and self.top_level_messages() < self.effective_user_conversations:
            raise ValueError(
                f"conversations_per_user={wanted} gives {self.effective_user_conversations} 1-on-1 "
                f"conversations, each with a message: messages must be at least {self.fewest_messages()}, "
                f"not {self.messages}"
            )

    def fewest_messages(self) -> int:
        """The fewest `messages` that give each 1-on-1 conversation of `conversations_per_user` a message."""
        pairs = self.effective_user_conversations if self.conversations_per_user else 0
        low, high = 1, max(1, 2 * pairs)
        while replace(self, messages=high).top_level_messages() < pairs and high < 1 << 40:
            high *= 2  # only shares that leave few top-level messages (a large reply_share) need more
        while low < high:
            middle = (low + high) // 2
            if replace(self, messages=middle).top_level_messages() >= pairs:
                high = middle
            else:
                low = middle + 1
        return low

    def to_cli_args(self) -> list[str]:
        """The `serve` arguments that reproduce this configuration in a subprocess."""
        args: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, tuple | list):
                if not value:
                    continue
                value = ",".join(value)
            args += [flag, str(value)]
        return args


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per EmulatorConfig field (`members_per_group` -> `--members-per-group`)."""
    defaults = EmulatorConfig()
    for f in fields(EmulatorConfig):
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if f.name == "fault_kinds":
            parser.add_argument(flag, type=_csv, default=default, help="comma-separated fault kinds")
        elif f.name == "profiles":
            parser.add_argument(flag, type=_csv, default=default, help="comma-separated behaviour profiles")
        elif f.name in ("user_conversations",):
            parser.add_argument(flag, type=int, default=None)
        elif f.name in ("api_key",):
            parser.add_argument(flag, type=str, default=None)
        else:
            parser.add_argument(flag, type=type(default), default=default)


def config_from_namespace(namespace: argparse.Namespace) -> EmulatorConfig:
    values = {f.name: getattr(namespace, f.name) for f in fields(EmulatorConfig)}
    return EmulatorConfig(**values).validated()

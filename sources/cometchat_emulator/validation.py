"""Query-parameter parsing and body validation with Laravel-style `details`, as the live API reports them."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import bad_request

MAX_TAGS = 25
MAX_TAG_LENGTH = 100
TRUE_VALUES = ("true", "1")
FALSE_VALUES = ("false", "0")


def validate_tags(tags: object) -> dict[str, list[str]]:
    """Problems of a conversation `tags` list, keyed like the API (`tags`, `tags.3`); empty when valid."""
    if tags is None:
        return {"tags": ["The tags field is required."]}
    if not isinstance(tags, list):
        return {"tags": ["The tags must be an array."]}
    if len(tags) > MAX_TAGS:
        return {"tags": [f"The tags may not have more than {MAX_TAGS} items."]}
    details: dict[str, list[str]] = {}
    for n, tag in enumerate(tags):
        key = f"tags.{n}"
        if tag is None or (isinstance(tag, str) and not tag.strip()):
            details[key] = [f"The {key} field is required."]
        elif not isinstance(tag, str):
            details[key] = [f"The {key} must be a string."]
        elif len(tag) > MAX_TAG_LENGTH:
            details[key] = [f"The {key} may not be greater than {MAX_TAG_LENGTH} characters."]
    return details


class Params:
    """Typed access to query parameters; every problem raises ERR_BAD_REQUEST naming the parameter."""

    def __init__(self, query: dict[str, list[str]]) -> None:
        self.query = query

    def raw(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def has(self, name: str) -> bool:
        return self.raw(name) not in (None, "")

    def optional_integer(
        self, name: str, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        text = self.raw(name)
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            raise bad_request({name: [f"The {name} must be an integer."]}) from None
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise bad_request({name: [f"The {name} must be between {minimum} and {maximum}."]})
        if minimum is not None and value < minimum:
            raise bad_request({name: [f"The {name} must be at least {minimum}."]})
        return value

    def integer(self, name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.optional_integer(name, minimum, maximum)
        return default if value is None else value

    def boolean(self, name: str) -> bool:
        text = self.raw(name)
        if not text:
            return False
        lowered = text.lower()
        if lowered in TRUE_VALUES:
            return True
        if lowered in FALSE_VALUES:
            return False
        raise bad_request({name: [f"The {name} field must be true or false."]})

    def optional_choice(self, name: str, allowed: Iterable[str]) -> str | None:
        text = self.raw(name)
        if not text:
            return None
        if text not in allowed:
            raise bad_request({name: [f"The selected {name} is invalid."]})
        return text

    def choice(self, name: str, allowed: Iterable[str], default: str) -> str:
        return self.optional_choice(name, allowed) or default

    def choices(self, name: str, allowed: Iterable[str]) -> frozenset[str]:
        """A comma-separated list of allowed values (`categories=message,custom`)."""
        text = self.raw(name)
        if not text:
            return frozenset()
        values = frozenset(part.strip() for part in text.split(",") if part.strip())
        if not values <= frozenset(allowed):
            raise bad_request({name: [f"The selected {name} is invalid."]})
        return values

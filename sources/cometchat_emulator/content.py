"""Deterministic message content derived from (seed, message index) by hashing, so nothing is stored per message."""

from __future__ import annotations

MASK64 = (1 << 64) - 1

WORDS = (
    "hello", "team", "deploy", "ship", "today", "tomorrow", "review", "merge", "the", "report", "is", "ready",
    "can", "you", "check", "this", "please", "thanks", "lunch", "meeting", "at", "noon", "dashboard", "metrics",
    "look", "great", "bug", "fixed", "in", "prod", "again", "coffee", "☕", "🚀", "🎉", "👍", "🔥", "😅", "✅",
    "naïve", "café", "façade", "über", "smörgåsbord", "jalapeño", "Zürich", "München", "São", "Paulo", "日本語",
    "测试", "привет", "مرحبا", "שלום", "नमस्ते", "ok", "sure", "later", "now", "data", "pipeline", "load",
    "schema", "incremental", "cursor", "page", "retry",
)  # fmt: skip
REACTIONS = ("😅", "👍", "❤️", "😂", "🎉", "🔥", "👀", "🙏", "✅", "😮")
MESSAGE_TAGS = ("important", "follow-up", "äpfel", "🔥 hot", "todo", "customer", "bug", "idea 💡", "résumé")
METADATA_SAMPLES = (
    {"key1": "val1"},
    {"source": "web", "locale": "de-DE"},
    {"client": "ios", "ünïcode": "✓"},
    {"@injected": {"extensions": {"link-preview": {"links": []}}}},
)
ATTACHMENT_KINDS = {
    "image": (("image/png", "png"), ("image/jpeg", "jpg"), ("image/gif", "gif")),
    "file": (("application/pdf", "pdf"), ("text/csv", "csv"), ("application/zip", "zip")),
    "audio": (("audio/mpeg", "mp3"), ("audio/ogg", "ogg")),
    "video": (("video/mp4", "mp4"), ("video/quicktime", "mov")),
}


def mix(value: int) -> int:
    """splitmix64 finaliser: a fast, well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


class Content:
    """Texts, attachments, reactions, tags and metadata for a message index, stable for a seed."""

    def __init__(self, seed: int, app_id: str, text_pool: int = 4096) -> None:
        self.salt = mix(seed * 1_000_003 + 17)
        self.app_id = app_id
        # Texts come from a seeded pool so that rendering a message costs one hash, not one per word.
        self._texts = [self._compose(n) for n in range(text_pool)]

    def _hash(self, index: int, lane: int) -> int:
        return mix(self.salt ^ (index * 0x100000001B3 + lane * 0x9E3779B1))

    def _compose(self, n: int) -> str:
        h = self._hash(n, 0)
        words = []
        for _ in range(2 + h % 11):
            h = mix(h)
            words.append(WORDS[h % len(WORDS)])
        return " ".join(words)

    def text(self, index: int) -> str:
        return self._texts[self._hash(index, 1) % len(self._texts)]

    def edited_text(self, index: int) -> str:
        return self.text(index) + " (edited ✏️)"

    def metadata(self, index: int) -> dict:
        return METADATA_SAMPLES[self._hash(index, 2) % len(METADATA_SAMPLES)]

    def reactions(self, index: int) -> list[dict]:
        h = self._hash(index, 3)
        first = h % len(REACTIONS)
        count = 1 + (h >> 8) % 3
        picked = [REACTIONS[(first + step * 3) % len(REACTIONS)] for step in range(count)]
        return [{"reaction": emoji, "count": 1 + (h >> (16 + 4 * n)) % 7} for n, emoji in enumerate(picked)]

    def tags(self, index: int) -> list[str]:
        h = self._hash(index, 4)
        count = 1 + h % 3
        return sorted({MESSAGE_TAGS[(h >> (8 + 4 * n)) % len(MESSAGE_TAGS)] for n in range(count)})

    def attachment(self, index: int, message_type: str) -> dict:
        h = self._hash(index, 5)
        mime, extension = ATTACHMENT_KINDS[message_type][h % len(ATTACHMENT_KINDS[message_type])]
        word = WORDS[(h >> 8) % 30]
        name = f"{word}_{index + 1}.{extension}"
        return {
            "url": f"https://data-us.cometchat.io/{self.app_id}/media/{h >> 20:x}_{name}",
            "name": name,
            "mimeType": mime,
            "extension": extension,
            "size": str(1024 + (h >> 32) % 5_000_000),
        }

"""Change detection for snapshot-style lists (users, groups, conversations) that the API cannot filter by time.

Each run still reads these lists whole (a handful of pages), but only rows whose content differs from the
last run are loaded. The digests live in the resource's dlt state, so they advance with the load package.
"""

import hashlib
from collections.abc import Callable, Iterable, MutableMapping

import orjson
from dlt.common.typing import TDataItem


def digest(row: TDataItem) -> str:
    return hashlib.blake2b(orjson.dumps(row, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


def only_changed(
    rows: Iterable[TDataItem], key: Callable[[TDataItem], str], digests: MutableMapping[str, str]
) -> list[TDataItem]:
    """The rows whose digest differs from the one remembered for their key; remembers the new digests."""
    changed = []
    for row in rows:
        row_key, row_digest = key(row), digest(row)
        if digests.get(row_key) != row_digest:
            digests[row_key] = row_digest
            changed.append(row)
    return changed

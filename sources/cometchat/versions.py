"""Which copy of a message wins within one load: its `version_id`.

Of the copies of one message in a load, the newest `updatedAt` wins. In one second, a copy read from a
list (the message as it is now) wins over those that action messages carry (as it was right after the
action), and of these the later action wins: an edit and a delete often share one second.
"""

import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.typing import TDataItem

from .message_structs import stamps

TIE_BITS = 30
CURRENT = (1 << TIE_BITS) - 1


def copy_version(message: TDataItem, action_id: int | None = None) -> int:
    """The version of one copy: read from a list (no `action_id`) or carried by the action `action_id`."""
    # updatedAt, or where a payload lacks it the latest of its edit, delete and sending.
    updated = max([int(stamp) for stamp in stamps(message) if stamp is not None and stamp != ""], default=0)
    tie = CURRENT if action_id is None else min(action_id, CURRENT - 1)
    return (updated << TIE_BITS) | tie


def listed_versions(
    updated_at: pa.Array, edited_at: pa.Array, deleted_at: pa.Array, sent_at: pa.Array
) -> pa.Array:
    """`copy_version` of copies read from a list, a column at a time from their int64 stamps."""
    updated = pc.max_element_wise(updated_at, edited_at, deleted_at, sent_at, skip_nulls=True).fill_null(0)
    # A multiplication, not a shift: pyarrow checks it for overflow (a stamp past 2**33 does not fit int64).
    shifted = pc.multiply_checked(updated, pa.scalar(1 << TIE_BITS, pa.int64()))
    return pc.bit_wise_or(shifted, pa.scalar(CURRENT, pa.int64()))

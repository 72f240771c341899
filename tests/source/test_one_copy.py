"""Messages changed while a run reads them: the package then holds two copies of them, dlt deduplicates it, and
the load is still exact (one_copy.py). A package without such copies tells dlt to skip its dedup."""

from typing import Any

from pipelines.loading import run_load
from sources.cometchat import CometChatClient

from .conftest import emulator_credentials, load_from
from .loaded import table
from .matching import assert_matches_ground_truth, assert_messages_match_ground_truth
from .test_load import assert_declared_deduplicated


class ChangesMessagesAfterTheFirstPage(CometChatClient):
    """Edits one message of the forward read's first page and adds a reaction to another, right after that page
    is read: the edit's action and the updates pass then bring newer copies of messages already listed."""

    def __init__(self, emulator) -> None:
        super().__init__(emulator_credentials(emulator), requests_per_minute=60_000)
        self.emulator = emulator
        self.changed: list[str] = []

    def messages(self, path: str = "messages", params: dict[str, Any] | None = None, **kwargs: Any):
        pages = super().messages(path, params, **kwargs)
        if self.changed or "updatedAt" in (params or {}):
            return pages
        return self._changing_after_first(pages)

    def _changing_after_first(self, pages):
        for number, page in enumerate(pages):
            yield page
            if number == 0:
                plain = [
                    m
                    for m in page
                    if m["category"] == "message" and "deletedAt" not in m and "parentId" not in m
                ]
                # A message a few seconds later moves the emulator's clock (the newest message's second) on.
                self.emulator.add_messages(1, sent_at=max(int(m["sentAt"]) for m in page) + 5)
                self.emulator.edit_message(plain[0]["id"], "edited while the run reads it")
                self.emulator.react(plain[1]["id"], "🎉")
                self.changed = [plain[0]["id"], plain[1]["id"]]


def test_messages_changed_while_the_run_reads_them_load_once_as_changed(make_emulator, make_pipeline):
    emulator = make_emulator(seed=21, messages=400)
    pipeline = make_pipeline()
    load_from(emulator, pipeline)
    emulator.add_messages(30)
    client = ChangesMessagesAfterTheFirstPage(emulator)

    # The forward read lists the new messages, then reads the edit's action and the updates pass. (Messages
    # alone: the other lists are snapshots, which the message sent mid-run would change after they are read.)
    run_load(pipeline, client, resources=["messages"])

    assert client.changed
    assert_messages_match_ground_truth(
        pipeline, emulator.ground_truth()
    )  # every id once, each child row once
    messages = table(pipeline, "messages").set_index("id")
    assert messages.loc[int(client.changed[0]), "text"] == "edited while the run reads it"
    reactions = table(pipeline, "messages__reactions")
    assert "🎉" in set(reactions[reactions["message_id"] == int(client.changed[1])]["reaction"])
    assert_declared_deduplicated(pipeline, False)

    # The next run's package holds each message once and says so; nothing is lost or doubled.
    emulator.edit_message(client.changed[1], "and edited again")
    load_from(emulator, pipeline)
    assert_matches_ground_truth(pipeline, emulator.ground_truth())
    assert_declared_deduplicated(pipeline, True)

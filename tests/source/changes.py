"""One round of changes of every kind in the emulator, between two loads."""


def change_everything(emulator) -> None:
    """New messages in one second across pages (one of them with a reaction), an edit, a delete, a later reaction and reply, a tag, and
    deletions of a membership, a group, a user and a conversation."""
    truth = emulator.ground_truth()
    newest = truth["messages"][-1]["sentAt"]
    new = emulator.add_messages(20, sent_at=newest + 5)  # one second, across capped pages
    # A new message changed before the next run: its forward read and the updates pass return the same copy.
    emulator.react(new[0], "👍")
    kept = [m for m in truth["messages"] if m["category"] == "message" and "deletedAt" not in m]
    top_level = [m for m in kept if "parentId" not in m]
    emulator.edit_message(top_level[0]["id"], "edited later ✏️")
    emulator.delete_message(top_level[1]["id"])
    emulator.react(top_level[2]["id"], "🎉")
    emulator.add_messages(1, parent_id=top_level[3]["id"])
    conversation = next(c for c in truth["conversations"] if c["conversationType"] == "user")
    emulator.set_conversation_tags(conversation["viewer"], conversation["conversationId"], ["vip", "🔥 hot"])

    member = truth["members"][-1]
    emulator.delete_member(member["guid"], member["uid"])
    emulator.delete_group(truth["groups"][0]["guid"])
    lonely = next(u["uid"] for u in truth["users"] if u["uid"] not in {m["uid"] for m in truth["members"]})
    emulator.delete_user(lonely)
    gone = next(
        c
        for c in truth["conversations"]
        if c["conversationType"] == "user" and lonely not in c["conversationId"]
    )
    emulator.delete_conversation(gone["viewer"], gone["conversationId"])

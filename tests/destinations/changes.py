"""One round of changes in the emulator between two runs: new messages, an edit, a delete and new tags."""


def change_the_app(emulator) -> None:
    truth = emulator.ground_truth()
    conversation = next(c for c in truth["conversations"] if c["conversationType"] == "user")
    kept = [m for m in truth["messages"] if m["category"] == "message" and not m.get("deletedAt")]
    emulator.add_messages(5)
    emulator.edit_message(kept[0]["id"], "edited text ✏️")
    emulator.delete_message(kept[1]["id"])
    emulator.set_conversation_tags(conversation["viewer"], conversation["conversationId"], ["vip", "🔥 hot"])

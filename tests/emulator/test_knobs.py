"""The data knobs shape what the emulator serves: each share at 0 removes its kind, and the span holds."""

import pytest

from sources.cometchat_emulator import EmulatorConfig

from .client import ApiClient

SHARES = {
    "reply_share": lambda m: m.get("parentId"),
    "edited_share": lambda m: m.get("editedAt"),
    "deleted_share": lambda m: m.get("deletedAt"),
    "action_share": lambda m: m["category"] == "action" and m["type"] == "groupMember",
    "attachment_share": lambda m: m["data"].get("attachments"),
    "reaction_share": lambda m: m["data"].get("reactions") or m.get("reactions"),
    "mention_share": lambda m: m["data"].get("mentions"),
    "tag_share": lambda m: m.get("tags"),
}


@pytest.mark.parametrize("knob", sorted(SHARES))
def test_a_share_of_zero_removes_its_kind_and_a_high_share_makes_it_common(make_emulator, knob):
    has_kind = SHARES[knob]
    none = make_emulator(messages=600, **{knob: 0.0}).ground_truth()["messages"]
    many = make_emulator(messages=600, **{knob: 0.5}).ground_truth()["messages"]
    assert not any(has_kind(m) for m in none)
    assert sum(1 for m in many if has_kind(m)) >= 60


def test_messages_stay_within_the_time_span(make_emulator):
    end = EmulatorConfig().end_time
    messages = make_emulator(messages=600, span_days=2.0, end_time=end).ground_truth()["messages"]
    sent = [m["sentAt"] for m in messages]
    assert end - 2 * 86_400 <= min(sent) and max(sent) <= end
    assert max(sent) - min(sent) > 86_400


def test_operational_settings_given_at_start_apply(make_emulator):
    emulator = make_emulator(rate_limit=2, rate_window=600.0, latency_ms=200)
    api = ApiClient(emulator)
    answers = [api.get("/users") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "ERR_TOO_MANY_REQUESTS"
    assert all(answer.elapsed.total_seconds() >= 0.2 for answer in answers)

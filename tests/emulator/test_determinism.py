"""Same seed, same data and byte-identical payloads; another seed, other data."""

from .client import ApiClient

PROBES = [
    ("/users", {"perPage": 1000, "withTags": "true"}, None),
    ("/groups", {"withTags": "true"}, None),
    ("/conversations", {"perPage": 1000, "withTags": "true"}, None),
    ("/messages", {"limit": 1000, "withTags": "true"}, None),
    ("/messages", {"limit": 1000, "affix": "prepend"}, None),
    ("/messages/17", {}, None),
]


def payloads(client: ApiClient, truth: dict) -> list[bytes]:
    viewer = truth["conversations"][0]["viewer"]
    guid = truth["groups"][0]["guid"]
    probes = [
        *PROBES,
        ("/conversations", {}, viewer),
        (f"/groups/{guid}/members", {}, None),
        (f"/groups/{guid}/messages", {"limit": 100}, None),
    ]
    bodies = []
    for path, params, on_behalf_of in probes:
        response = client.get(path, params, on_behalf_of=on_behalf_of)
        assert response.status_code == 200
        bodies.append(response.content)
    return bodies


def test_same_seed_same_truth_and_bytes(emulator, make_emulator):
    twin = make_emulator(seed=7)
    assert twin.api_key == emulator.api_key
    assert len(twin.api_key) == 40 and int(twin.api_key, 16) >= 0
    first, second = emulator.ground_truth(), twin.ground_truth()
    assert first == second
    assert payloads(ApiClient(emulator), first) == payloads(ApiClient(twin), second)


def test_other_seed_other_data(emulator, make_emulator):
    other = make_emulator(seed=8)
    assert other.api_key != emulator.api_key
    mine, theirs = emulator.ground_truth(), other.ground_truth()
    assert mine["users"] != theirs["users"]
    assert mine["messages"] != theirs["messages"]
    assert len(theirs["messages"]) == len(mine["messages"]) == 2000


def test_knobs_shape_the_data(make_emulator):
    emu = make_emulator(seed=3, users=10, groups=2, members_per_group=4, user_conversations=5, messages=300)
    truth = emu.ground_truth()
    assert len(truth["users"]) == 10
    assert len(truth["groups"]) == 2
    assert len(truth["members"]) == 8
    assert len(truth["messages"]) == emu.message_count() == 300
    pairs = {c["conversationId"] for c in truth["conversations"] if c["conversationType"] == "user"}
    assert len(pairs) <= 5

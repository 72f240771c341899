"""The emulator's message pages decode into structs (message_structs.py), not the whole-parse fallback: the fast
path is the one the loads take, under the documented behaviour and with numeric ids."""

import pytest
import requests

from sources.cometchat.message_structs import Message, decode_message_page


@pytest.mark.parametrize("profiles", [(), ("numeric_ids",)])
def test_every_message_page_of_the_emulator_decodes_into_structs(make_emulator, profiles):
    emulator = make_emulator(seed=5, messages=3_000, action_share=0.2, profiles=profiles)
    session = requests.Session()
    session.headers["apikey"] = emulator.api_key
    params = {"limit": 1000, "affix": "append", "fromTimestamp": 1, "withTags": "true"}
    seen = 0
    while True:
        body = session.get(f"{emulator.base_url}/messages", params=params, timeout=30).content
        page = decode_message_page(body)["data"]
        assert all(type(message) is Message for message in page)
        seen += len(page)
        if len(page) < 1000:
            break
        params.update(sentAt=page[-1]["sentAt"], id=page[-1]["id"], fromTimestamp=page[-1]["sentAt"])
    assert seen == emulator.message_count()

"""The client's connections: more threads asking at once than the pool holds wait for a connection, rather than
opening extra ones that urllib3 then discards with a "Connection pool is full" warning."""

import logging
from concurrent.futures import ThreadPoolExecutor

from sources.cometchat import CometChatClient

from .conftest import emulator_credentials


def test_threads_beyond_the_pool_wait_for_a_connection_without_warnings(make_emulator, caplog):
    emulator = make_emulator(seed=2, users=20, groups=2, messages=10)
    emulator.configure(latency_ms=50)
    client = CometChatClient(emulator_credentials(emulator), requests_per_minute=1e9, max_workers=2)
    threads = 3 * (client.max_workers + 2)  # the message windows, lists read ahead, dlt's deferred reads

    with (
        caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"),
        ThreadPoolExecutor(threads) as pool,
    ):
        answers = list(pool.map(lambda _: client.get("users"), range(3 * threads)))

    assert all(len(users) == 20 for users in answers)
    assert "Connection pool is full" not in caplog.text
    assert client.stats.requests == 3 * threads

"""Second destinations started by the tests themselves: PostgreSQL from the `pgserver` wheel, a local delta lake."""

import shutil
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A real PostgreSQL server on a unix socket only, for the session (per xdist worker); stopped after.

    Its folder is made under /tmp, not pytest's private tmp folder: run as root, pgserver starts the server as
    an unprivileged user, who must be able to reach it.
    """
    import pgserver

    folder = tempfile.mkdtemp(prefix="cometchat-pg-")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        # dlt's credentials want a host; the `host` query parameter points libpq at the socket folder.
        yield server.get_uri().replace("postgres:@/", "postgres:@localhost/")
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)

"""DuckDB's `delta` extension from a wheel, so that `pipeline.dataset()` reads a delta lake without a download.

`pipeline.dataset()` over the filesystem destination reads delta tables with DuckDB's `delta` extension, which
DuckDB downloads from its own repository on first use. The `duckdb-extension-delta` wheel (the `lake` extra)
carries the same file; installing it from there once into DuckDB's extension folder serves every later reader,
`dlt.attach(...).dataset()` and the notebooks included. Processes that install at the same time (test workers,
shards starting together) tear each other's files, so they take turns under a file lock.
"""

import logging
from pathlib import Path

import duckdb
from filelock import FileLock

logger = logging.getLogger(__name__)

# Beside DuckDB's default extension folder, `~/.duckdb/extensions`. Installing copies about 80 MB.
INSTALL_LOCK = Path("~/.duckdb/delta-extension.lock")
INSTALL_LOCK_TIMEOUT_SECONDS = 300


def install_delta_extension() -> bool:
    """Installs DuckDB's delta extension from the `duckdb-extension-delta` wheel if DuckDB lacks it.

    Returns whether the extension is installed now. Without the wheel, DuckDB is left to download it.
    """
    lock_path = INSTALL_LOCK.expanduser()
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        # Checked under the lock: a half-copied extension already looks installed to DuckDB.
        with FileLock(lock_path, timeout=INSTALL_LOCK_TIMEOUT_SECONDS), duckdb.connect() as connection:
            if _delta_installed(connection):
                return True
            extension = _wheel_extension_file()
            if extension is None:
                return False
            connection.execute(f"INSTALL '{extension}'")
            return _delta_installed(connection)
    except (duckdb.Error, OSError) as error:  # another platform's file, a read-only home, a lock timeout
        logger.warning("Could not install DuckDB's delta extension from duckdb-extension-delta: %s", error)
        return False


def _wheel_extension_file() -> Path | None:
    """The wheel's `extensions/v<duckdb>/delta.duckdb_extension` for the running DuckDB, or None (logged)."""
    try:
        import duckdb_extension_delta  # the wheel ships only the extension file
    except ImportError:
        logger.info(
            "duckdb-extension-delta is not installed: DuckDB will download its delta extension when needed"
        )
        return None
    for folder in duckdb_extension_delta.__path__:
        extension = Path(folder) / "extensions" / f"v{duckdb.__version__}" / "delta.duckdb_extension"
        if extension.is_file():
            return extension
    # An extension loads only into the DuckDB version it was built for; pip keeps the two in step.
    logger.warning(
        "duckdb-extension-delta has no delta extension for DuckDB %s (install the wheel of the same version): "
        "DuckDB will download its delta extension when needed",
        duckdb.__version__,
    )
    return None


def _delta_installed(connection: duckdb.DuckDBPyConnection) -> bool:
    row = connection.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'delta'"
    ).fetchone()
    return bool(row and row[0])

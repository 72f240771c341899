"""DuckDB's `delta` extension from a wheel, so that `pipeline.dataset()` reads a delta lake without a download.

`pipeline.dataset()` over the filesystem destination reads delta tables with DuckDB's `delta` extension, which
DuckDB downloads from its own repository on first use. The `duckdb-extension-delta` wheel (the `lake` extra)
carries the same file; installing it from there once into DuckDB's extension folder serves every later reader,
`dlt.attach(...).dataset()` and the notebooks included.
"""

import logging
from pathlib import Path

import duckdb

logger = logging.getLogger(__name__)


def install_delta_extension() -> bool:
    """Installs DuckDB's delta extension from the `duckdb-extension-delta` wheel if DuckDB lacks it.

    Returns whether the extension is installed now. Without the wheel, DuckDB is left to download it.
    """
    with duckdb.connect() as connection:
        if _delta_installed(connection):
            return True
        extension = _wheel_extension_file()
        if extension is None:
            return False
        try:
            connection.execute(f"INSTALL '{extension}'")
        except duckdb.Error as error:  # a file built for another platform
            logger.warning(
                "Could not install DuckDB's delta extension from duckdb-extension-delta: %s", error
            )
            return False
        return _delta_installed(connection)


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

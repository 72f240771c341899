"""DuckDB's `delta` extension from a wheel, so that `pipeline.dataset()` reads a delta lake without a download.

`pipeline.dataset()` over the filesystem destination reads delta tables with DuckDB's `delta` extension, which
DuckDB downloads from its own repository on first use. The `duckdb-ext-delta` wheel (the `lake` extra) carries
the same file; installing it from there once into DuckDB's extension folder serves every later reader,
`dlt.attach(...).dataset()` and the notebooks included.
"""

import logging
from pathlib import Path

import duckdb

logger = logging.getLogger(__name__)


def install_delta_extension() -> bool:
    """Installs DuckDB's delta extension from the `duckdb-ext-delta` wheel if DuckDB lacks it.

    Returns whether the extension is installed now. Without the wheel, DuckDB is left to download it.
    """
    with duckdb.connect() as connection:
        if _delta_installed(connection):
            return True
        repository = _wheel_repository()
        if repository is None:
            logger.info(
                "duckdb-ext-delta is not installed: DuckDB will download its delta extension when needed"
            )
            return False
        try:
            connection.execute(f"INSTALL delta FROM '{repository}'")
        except duckdb.Error as error:  # a wheel for another DuckDB version or platform
            logger.warning("Could not install DuckDB's delta extension from duckdb-ext-delta: %s", error)
            return False
        return _delta_installed(connection)


def _wheel_repository() -> Path | None:
    """The extension repository folder (`v<duckdb>/<platform>/delta.duckdb_extension`) of the wheel."""
    try:
        import duckdb_ext  # a namespace package: the wheel ships only the extension files
    except ImportError:
        return None
    for folder in duckdb_ext.__path__:
        if (Path(folder) / "extensions").is_dir():
            return Path(folder) / "extensions"
    return None


def _delta_installed(connection: duckdb.DuckDBPyConnection) -> bool:
    row = connection.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'delta'"
    ).fetchone()
    return bool(row and row[0])

"""Where a secret could hide after a run: every file under a folder, read the way each kind is stored.

Load packages may be gzip-compressed or parquet, and DuckDB compresses its strings, so a plain byte search
could miss a leak; each such file is also read back as text.
"""

import gzip
from pathlib import Path

import duckdb
import pyarrow.parquet as pq


def files_holding(root: Path, secret: str) -> list[str]:
    """Every file under `root` that holds `secret`, raw or once decoded (gzip, parquet, DuckDB tables)."""
    needle = secret.encode()
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith(".wal"):
            continue
        if needle in path.read_bytes() or secret in _decoded(path):
            found.append(str(path.relative_to(root)))
    return found


def _decoded(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data).decode("utf-8", "replace")
    if path.suffix == ".parquet":
        return str(pq.read_table(path).to_pylist())
    if path.suffix == ".duckdb":
        return _duckdb_text(path)
    return ""


def _duckdb_text(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        rows = [
            connection.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall() for schema, name in tables
        ]
    return str(rows)

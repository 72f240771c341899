"""Keeping pandas out of the loader's process while it loads into DuckDB: about 50 MB of resident memory.

Nothing `run_load` does needs pandas, yet two libraries import it only to ask whether a value is a pandas
object: pyarrow the first time it converts Python values (`pa.array`, `pa.scalar`), and DuckDB's Python client
at every query with parameters. Hidden, pandas counts as not installed for both. At 1M messages the loader
peaked at 421 MB without pandas against 457 MB with it (docs/performance.md, "Two load jobs (round 10)").
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec


@contextmanager
def pandas_hidden() -> Iterator[bool]:
    """Within the block `import pandas` fails as if pandas were not installed, unless it was imported before.
    Yields whether it is hidden.

    Afterwards pandas imports as usual. pyarrow remembers it as absent until pyarrow itself needs it
    (`to_pandas`, `Table.from_pandas`): until then `pa.array` reads a pandas Series as a plain sequence.
    """
    if "pandas" in sys.modules:
        yield False
        return
    sys.meta_path.insert(0, _HIDDEN)
    try:
        yield True
    finally:
        sys.meta_path.remove(_HIDDEN)


class _PandasHidden(MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if fullname.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: hidden while the loader runs ({__name__})", name=fullname
            )
        return None


_HIDDEN = _PandasHidden()

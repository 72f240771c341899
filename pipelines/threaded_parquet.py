"""dlt's parquet writing of arrow tables moved off the extract's thread, for the slices of messages.

The extract of a slice is bound by the main thread: it reshapes the message pages, and between two pages dlt
writes the arrow tables it was handed to parquet (about 0.9 s of 5.5 at 200,000 messages). pyarrow encodes
without the GIL, so that work could run beside the reshape, but not as dlt does it: dlt gives pyarrow a Python
file object (`BufferedDataWriter._open_writer`), and each of pyarrow's writes into it takes the GIL back (on a
thread beside a busy one, a slice's files took 6.4 s instead of 0.3 s). Nor can the source write the files
itself: dlt 1.31's file import cannot reach the child tables, which are table variants of `messages` (README,
Performance, round 18).

So, only while `parquet_written_on_a_thread()` is open, dlt's arrow-to-parquet writer is this subclass: it
opens the same file again as a native pyarrow file (no GIL to write it) and hands each table to one writer
thread, at most `PENDING_TABLES` at a time. dlt's writer class is looked up when a file is opened, from a table
of dlt's module, so the swap is process-wide while open: meant around one extract at a time. A write that fails
on the thread fails the extract at the next write or when the file closes, as a failed write would.
"""

import io
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dlt.common.data_writers import writers as dlt_writers
from dlt.common.data_writers.writers import ArrowToParquetWriter

# Tables handed to the writer thread and not yet written, across all files: each holds up to 20,000 rows
# (arrow_pages.TABLE_ROWS), about 5 MB; the extract waits rather than hold more.
PENDING_TABLES = 2
_ARROW_TO_PARQUET = ArrowToParquetWriter.writer_spec()


class _WriterThread:
    """One thread that writes tables in the order they were handed over, at most PENDING_TABLES behind."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self._pending: deque[Future[None]] = deque()
        self._lock = threading.Lock()

    def submit(self, writer: pq.ParquetWriter, table: pa.Table, row_group_size: int | None) -> None:
        with self._lock:
            while len(self._pending) >= PENDING_TABLES:
                self._pending.popleft().result()
            self._pending.append(self._pool.submit(writer.write_table, table, row_group_size=row_group_size))

    def drain(self) -> None:
        """Waits for every table handed over; raises the first write that failed."""
        with self._lock:
            while self._pending:
                self._pending.popleft().result()


_THREAD = _WriterThread()


class _ParquetFileOnThread:
    """What dlt's writer calls `self.writer`: a pyarrow ParquetWriter on a native file, written on the thread."""

    def __init__(
        self, writer: pq.ParquetWriter, sink: pa.NativeFile, path: str, python_file: io.IOBase
    ) -> None:
        self._writer, self._sink, self._path, self._python_file = writer, sink, path, python_file
        self.schema = writer.schema

    def write_table(self, table: pa.Table, row_group_size: int | None = None) -> None:
        # pyarrow checks this in write_table; checked here, a mismatch still raises where dlt expects it.
        if not table.schema.equals(self.schema, check_metadata=False):
            raise ValueError(
                f"Table schema does not match schema used to create file:\ntable:\n{table.schema}"
                f" vs.\nfile:\n{self.schema}"
            )
        _THREAD.submit(self._writer, table, row_group_size)
        # dlt rotates files by size with `tell()` on its own file object: moved to what is written so far.
        self._python_file.seek(os.path.getsize(self._path))

    def close(self) -> None:
        try:
            _THREAD.drain()
        finally:
            try:
                self._writer.close()
            finally:
                self._sink.close()
        self._python_file.seek(os.path.getsize(self._path))  # dlt's metrics read the size from it


class ArrowToParquetOnThread(ArrowToParquetWriter):
    """dlt's arrow-to-parquet writer, with the same settings, writing on the writer thread."""

    def _create_writer(self, schema: pa.Schema) -> Any:
        python_file = self._f
        path = getattr(python_file, "name", None)
        if not isinstance(python_file, io.BufferedWriter) or not isinstance(path, str):
            return super()._create_writer(schema)  # not a plain file on disk: written as dlt writes it
        self._f = sink = pa.OSFile(path, "wb")
        try:
            writer = super()._create_writer(schema)
        except BaseException:
            sink.close()
            raise
        finally:
            self._f = python_file
        return _ParquetFileOnThread(writer, sink, path, python_file)


@contextmanager
def parquet_written_on_a_thread() -> Iterator[None]:
    """While open, dlt writes arrow tables to parquet with `ArrowToParquetOnThread`. Every table handed over is
    written before the block ends; after a block that failed, a write that fails too is not raised again."""
    original = dlt_writers.WRITER_SPECS[_ARROW_TO_PARQUET]
    dlt_writers.WRITER_SPECS[_ARROW_TO_PARQUET] = ArrowToParquetOnThread
    try:
        yield
    except BaseException:
        with suppress(Exception):
            _THREAD.drain()
        raise
    else:
        _THREAD.drain()
    finally:
        dlt_writers.WRITER_SPECS[_ARROW_TO_PARQUET] = original

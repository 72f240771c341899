"""dlt's parquet writing of arrow tables moved off the extract's thread, for the slices of messages.

The extract of a slice is bound by the main thread: it reshapes the message pages, and between two pages dlt
writes the arrow tables it was handed to parquet (about 0.9 s of 5.5 at 200,000 messages). pyarrow encodes
without the GIL, so that work could run beside the reshape, but not as dlt does it: dlt gives pyarrow a Python
file object (`BufferedDataWriter._open_writer`), and each of pyarrow's writes into it takes the GIL back
(written so while another Python thread was busy, a slice's files took 6.4 s instead of 0.3 s). Nor can the
source write the files itself: dlt 1.31's file import cannot reach the child tables, which are table variants of
`messages` (docs/performance.md, round 18).

So, while `parquet_written_on_a_thread()` is open, dlt's arrow-to-parquet writer is this subclass: it opens the
same file again as a native pyarrow file (no GIL to write it) and hands each table to the block's writer
thread, at most `PENDING_TABLES` at a time. dlt picks the writer class from a table of its module when the
extract creates each table's writer, so the class is swapped process-wide while a block is open (dlt's own is
back once the last open block ends); only an extract on the block's own thread writes on the writer thread.

A write that fails on the thread fails the extract, at the next write or when a file closes, once every table
handed over is written or failed. Size rotation (`file_max_bytes`, which the project does not set) sees the
bytes written so far, up to `PENDING_TABLES` tables behind.
"""

import io
import logging
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq
from dlt.common.data_writers import writers as dlt_writers
from dlt.common.data_writers.writers import ArrowToParquetWriter

logger = logging.getLogger(__name__)

# Tables handed to the writer thread and not yet written, across all files: each holds up to 20,000 rows
# (arrow_pages.TABLE_ROWS), about 5 MB; the extract waits rather than hold more.
PENDING_TABLES = 2
_ARROW_TO_PARQUET = ArrowToParquetWriter.writer_spec()


class _WriterThread:
    """One thread that writes a block's tables in the order they were handed over, at most PENDING_TABLES
    behind; it knows the files it writes that are still open."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self._pending: deque[Future[None]] = deque()
        self.open_files: set[_ParquetFileOnThread] = set()

    def submit(self, writer: pq.ParquetWriter, table: pa.Table, row_group_size: int | None) -> None:
        while len(self._pending) >= PENDING_TABLES:
            if self._pending[0].exception() is not None:  # waits for the oldest write to end
                self.drain()  # raises its error once the others have ended too
            self._pending.popleft()
        self._pending.append(self._pool.submit(writer.write_table, table, row_group_size=row_group_size))

    def drain(self) -> None:
        """Waits for every table handed over; raises the first write that failed. Every pending write ends
        before a failure is raised: no file may be closed while one of its tables is being written."""
        pending, self._pending = list(self._pending), deque()
        wait(pending)
        for future in pending:
            if (error := future.exception()) is not None:
                raise error

    def end(self, failed: bool) -> None:
        """At the end of the block: every table written; after a failed block, a write that failed too is
        logged, not raised over the block's error, and the files dlt left open are closed."""
        try:
            if not failed:
                self.drain()
                return
            try:
                self.drain()
            except Exception as error:
                logger.warning("A parquet file of the failed extract could not be written either: %s", error)
            for left_open in list(self.open_files):
                try:
                    left_open.close()
                except Exception as error:
                    logger.debug("Closing a parquet file of the failed extract: %s", error)
        finally:
            self._pool.shutdown(wait=True)


class _ParquetFileOnThread:
    """What dlt's writer calls `self.writer`: a pyarrow ParquetWriter on a native file, written on the thread."""

    def __init__(
        self,
        writer: pq.ParquetWriter,
        sink: pa.NativeFile,
        python_file: io.BufferedWriter,
        writer_thread: _WriterThread,
    ) -> None:
        self._writer, self._sink, self._python_file, self._thread = writer, sink, python_file, writer_thread
        self._path = python_file.name
        self.schema = writer.schema
        writer_thread.open_files.add(self)

    def write_table(self, table: pa.Table, row_group_size: int | None = None) -> None:
        # pyarrow's own check in `write_table` (parquet/core.py), made before the table goes to the thread, so
        # that a mismatch raises where dlt expects it.
        if not table.schema.equals(self.schema, check_metadata=False):
            raise ValueError(
                f"Table schema does not match schema used to create file:\ntable:\n{table.schema}"
                f" vs.\nfile:\n{self.schema}"
            )
        self._thread.submit(self._writer, table, row_group_size)
        # dlt rotates files by size with `tell()` on its own file object: moved to what is written so far.
        self._python_file.seek(os.path.getsize(self._path))

    def close(self) -> None:
        self._thread.open_files.discard(self)
        try:
            self._thread.drain()
        finally:
            try:
                self._writer.close()
            finally:
                self._sink.close()
        self._python_file.seek(os.path.getsize(self._path))  # dlt's metrics read the size from it


# The writer thread of the block open on the current thread, if any.
_BLOCK = threading.local()


class ArrowToParquetOnThread(ArrowToParquetWriter):
    """dlt's arrow-to-parquet writer, with the same settings, writing on the writer thread of the block open on
    the thread that extracts; written as dlt writes it anywhere else."""

    def _create_writer(self, schema: pa.Schema) -> pq.ParquetWriter | _ParquetFileOnThread:
        python_file = self._f
        writer_thread: _WriterThread | None = getattr(_BLOCK, "writer_thread", None)
        # A flavor changes the table before pyarrow's schema check; not a file on disk: written as dlt does.
        if (
            writer_thread is None
            or self.parquet_format.flavor
            or not isinstance(python_file, io.BufferedWriter)
        ):
            return super()._create_writer(schema)
        self._f = sink = pa.OSFile(python_file.name, "wb")
        try:
            writer = super()._create_writer(schema)
        except BaseException:
            sink.close()
            raise
        finally:
            self._f = python_file
        return _ParquetFileOnThread(writer, sink, python_file, writer_thread)


class _Swap:
    """dlt's writer class swapped while at least one block is open, so that blocks open at once on several
    threads (two runs in one process) put dlt's own back only when the last one ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open_blocks = 0
        self._original: type[ArrowToParquetWriter] | None = None

    def enter(self) -> None:
        with self._lock:
            if self._open_blocks == 0:
                self._original = dlt_writers.WRITER_SPECS[_ARROW_TO_PARQUET]
                dlt_writers.WRITER_SPECS[_ARROW_TO_PARQUET] = ArrowToParquetOnThread
            self._open_blocks += 1

    def leave(self) -> None:
        with self._lock:
            self._open_blocks -= 1
            if self._open_blocks == 0 and self._original is not None:
                dlt_writers.WRITER_SPECS[_ARROW_TO_PARQUET] = self._original


_SWAP = _Swap()


@contextmanager
def parquet_written_on_a_thread() -> Iterator[None]:
    """While open, the arrow tables that dlt writes to parquet on the current thread are written on a writer
    thread of this block's own, all of them before the block ends. After a block that failed, a write that
    failed too is logged, not raised over the block's error, and files that dlt left open are closed."""
    writer_thread, outer = _WriterThread(), getattr(_BLOCK, "writer_thread", None)
    _BLOCK.writer_thread = writer_thread
    _SWAP.enter()
    failed = True
    try:
        yield
        failed = False
    finally:
        try:
            writer_thread.end(failed)
        finally:
            _BLOCK.writer_thread = outer
            _SWAP.leave()

"""Bytes in: the size bound, formats from names, and lines with their offsets.

Everything here works below the record level: it turns a file, a FIFO or standard input into
bytes or into decoded lines (`Lines`) and says which reader takes them. The row readers seek back
to a line by its byte offset, which is why lines are cut here and not by `str.splitlines`.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from krcoach.formats.errors import InputError

INPUT_FORMATS = ("jsonl", "json", "csv", "md")
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".md": "md",
    ".markdown": "md",
    ".txt": "md",
}

KR_FIELDS = ("kr", "key_result", "key result", "keyresult")

#: Default bound on one input (a file, a FIFO or standard input); KRCOACH_MAX_INPUT_BYTES overrides it.
MAX_INPUT_BYTES = 256 * 1024 * 1024
_MIB = 1024 * 1024
_READ_CHUNK = 8 * _MIB


def max_input_bytes() -> int:
    """The size bound on one input: KRCOACH_MAX_INPUT_BYTES (bytes, or with a K, M or G suffix in
    binary units: 512M), else MAX_INPUT_BYTES."""
    raw = os.environ.get("KRCOACH_MAX_INPUT_BYTES", "").strip()
    if not raw:
        return MAX_INPUT_BYTES
    m = re.fullmatch(r"(\d+)\s*(?:([kmg])(?:i?b)?|b)?", raw.replace("_", "").replace(",", ""), re.I)
    value = int(m.group(1)) * 1024 ** " kmg".index((m.group(2) or " ").lower()) if m else 0
    if value < 1:
        raise InputError("KRCOACH_MAX_INPUT_BYTES", None, f"{raw!r} is not a size: give bytes (268435456) "
                         "or a size such as 512M or 1G")
    return value


def _size(n: int) -> str:
    return f"{n // _MIB:,} MiB" if n % _MIB == 0 else f"{n:,} bytes"


def _too_large(name: str, limit: int) -> InputError:
    return InputError(name, None, f"larger than {_size(limit)}; split it or raise KRCOACH_MAX_INPUT_BYTES")


def _read_bounded(fh: Any, name: str, limit: int, size: int = 0) -> bytes:
    """Everything `fh` holds, up to `limit` bytes: more is an InputError, so an endless source
    (/dev/zero, a runaway pipe) ends with a message instead of using up memory. `size` is a
    regular file's size, read in one go."""
    if size > limit:
        raise _too_large(name, limit)
    chunks: list[bytes] = []
    total = 0
    want = size + 1 if size else _READ_CHUNK
    while True:
        chunk = fh.read(min(want, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _too_large(name, limit)
        want = _READ_CHUNK
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def format_from_name(name: str) -> str:
    """The input format a file name's extension implies; an unknown one is an InputError."""
    suffix = Path(name).suffix.lower()
    if suffix not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        shown = suffix or "(none)"
        raise InputError(name, None, f"unknown extension {shown}: use one of {known} or --input-format")
    return EXTENSIONS[suffix]


def check_input_format(input_format: str | None, name: str) -> None:
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise InputError(name, None, f"unknown input format {input_format!r}: use one of "
                         + ", ".join(INPUT_FORMATS))


def stat_input(name: str) -> os.stat_result:
    """`os.stat` of an input path, its failures (and a folder) as an InputError naming it."""
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise InputError(name, None, "no such file") from None
    except OSError as exc:
        raise InputError(name, None, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(name, None, "is a directory, not a file")
    return st


def read_all(name: str, limit: int) -> bytes:
    """Every byte of one input (`-` is standard input), bounded by `limit`."""
    if name == "-":
        try:
            return _read_bounded(sys.stdin.buffer, "<stdin>", limit)
        except OSError as exc:
            raise InputError("<stdin>", None, f"cannot read: {exc.strerror or exc}") from None
    st = stat_input(name)
    try:
        with open(name, "rb", buffering=0) as fh:
            return _read_bounded(fh, name, limit, st.st_size if stat.S_ISREG(st.st_mode) else 0)
    except OSError as exc:
        raise InputError(name, None, f"cannot read: {exc.strerror or exc}") from None


def open_seekable(name: str, limit: int) -> IO[bytes]:
    """One input opened for reading more than once.

    A regular file is opened as it is (its size checked against `limit` first). Standard input, a
    FIFO or a device can be read only once, so it is copied to an unnamed temporary file first,
    with the same bound: the readers then go over it twice (validate everything, then review)
    without holding it in memory."""
    shown = "<stdin>" if name == "-" else name
    try:
        if name == "-":
            src: Any = sys.stdin.buffer
        else:
            st = stat_input(name)
            if stat.S_ISREG(st.st_mode) and st.st_size:
                if st.st_size > limit:
                    raise _too_large(name, limit)
                return open(name, "rb", buffering=_BUFFER)
            src = open(name, "rb", buffering=0)
        try:
            spool = tempfile.TemporaryFile(prefix="krcoach-input-")
            total = 0
            while chunk := src.read(min(_READ_CHUNK, limit + 1 - total)):
                total += len(chunk)
                if total > limit:
                    spool.close()
                    raise _too_large(shown, limit)
                spool.write(chunk)
        finally:
            if src is not sys.stdin.buffer:
                src.close()
        spool.seek(0)
        return spool
    except OSError as exc:
        raise InputError(shown, None, f"cannot read: {exc.strerror or exc}") from None


_BUFFER = 1 << 18
_LONE_CR = re.compile(rb"\r(?!\n)")
_CSV_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class Lines:
    """The decoded lines of a seekable binary input, each with its line number and byte offset.

    Lines end at "\\n" only, as `str.split("\\n")` cuts them: JSON allows U+2028 and other breaks
    raw inside a string. With `universal` (CSV) a lone "\\r" ends a line too, as a file opened with
    `newline=""` cuts it, which is what the csv module expects. Text that is not UTF-8 is an
    InputError naming the line (counted in "\\n"); a byte-order mark at the start is dropped.
    `blank` stays True while every byte read so far is ASCII whitespace (an empty file).
    """

    def __init__(self, fh: IO[bytes], source: str, *, universal: bool = False) -> None:
        self.fh, self.source, self.universal = fh, source, universal
        self.blank = True
        #: Byte offset of the next line `next()` returns: a row's offset, read before the row.
        self.pos = 0
        self._number = 0  # "\n"-line number of the last line read
        self._pending: list[tuple[int, str]] = []

    def seek(self, offset: int, number: int = 0) -> None:
        self.fh.seek(offset)
        self.pos, self._number, self._pending = offset, number, []

    def __iter__(self) -> Iterator[str]:
        return self

    @property
    def number(self) -> int:
        return self._number

    def __next__(self) -> str:
        if self._pending:
            size, text = self._pending.pop()
            self.pos += size
            return text
        start = self.pos
        chunk = self.fh.readline()
        if not chunk:
            raise StopIteration
        self._number += 1
        if self.blank and chunk.strip():
            self.blank = False
        try:
            text = chunk.decode("utf-8-sig" if start == 0 else "utf-8")
        except UnicodeDecodeError:
            raise InputError(self.source, f"line {self._number}", "text is not UTF-8; save the file as UTF-8") from None
        if self.universal and _LONE_CR.search(chunk):
            parts = _CSV_LINE.findall(text)
            sizes = [len(p.encode("utf-8")) for p in parts]
            sizes[0] += len(chunk) - sum(sizes)  # a byte-order mark belongs to the first
            self._pending = list(zip(sizes[1:], parts[1:]))[::-1]
            self.pos = start + sizes[0]
            return parts[0]
        self.pos = start + len(chunk)
        return text

    def drain(self) -> None:
        """Read on to the end, only to find text that is not UTF-8 (it outranks every later error)."""
        for _ in self:
            pass

"""Reading dataset files row by row, each row with its location, never all at once.

Supported: ``.json`` (an array, parsed incrementally), ``.jsonl``, ``.csv``,
``.tsv``, ``.parquet``, ``.txt`` (one document per blank-line-separated block, or
per line) and a folder of such files. A line that cannot be parsed is reported
with its file and line number and reading goes on, so every problem shows at once.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ftwizard.core.errors import UserError
from ftwizard.core.files import MAX_NESTING, load_json, regular_file_problem
from ftwizard.core.paths import looks_local

SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".parquet", ".txt")
TextSplit = Literal["auto", "paragraph", "line"]
_CHUNK = 1 << 20  # bytes read at a time from a JSON array


@dataclass(frozen=True)
class Row:
    """One example as read from disk; ``where`` is "file, line N" or "file, row N"."""

    where: str
    data: Any


@dataclass(frozen=True)
class ParseError:
    where: str
    message: str


Item = Row | ParseError


def _json_array(path: Path) -> Iterator[Item]:
    """Stream the elements of a top-level JSON array with ``raw_decode`` on a sliding buffer."""
    decoder = json.JSONDecoder()
    name = path.name
    with path.open("r", encoding="utf-8") as handle:
        buffer, position, lines_before = handle.read(_CHUNK), 0, 0

        def more() -> bool:
            nonlocal buffer, position, lines_before
            chunk = handle.read(_CHUNK)
            if not chunk:
                return False
            lines_before += buffer.count("\n", 0, position)
            buffer, position = buffer[position:] + chunk, 0
            return True

        def peek() -> str:
            """The next non-blank character, reading on as needed; "" at the end."""
            nonlocal position
            while True:
                while position < len(buffer) and buffer[position] in " \t\r\n":
                    position += 1
                if position < len(buffer):
                    return buffer[position]
                if not more():
                    return ""

        def line_at(offset: int) -> int:
            return lines_before + buffer.count("\n", 0, offset) + 1

        if peek() != "[":
            found = peek() or "nothing"
            raise UserError(
                f"{name}: a .json dataset must be an array of examples ([{{...}}, ...]); "
                f"it starts with {found!r}.",
                hint="A file with one JSON object per line should be named .jsonl.",
            )
        position += 1
        index = 0
        while True:
            char = peek()
            if index > 0 and char == ",":
                position += 1
                char = peek()
            elif index > 0 and char not in ("]", ""):
                yield ParseError(
                    f"{name}, line {line_at(position)}",
                    f"expected ',' or ']' after example {index}",
                )
                return
            if char == "":
                yield ParseError(
                    f"{name}, line {line_at(position)}",
                    f"the array is not closed after example {index}: the file looks truncated",
                )
                return
            if char == "]":
                return
            start = line_at(position)
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, position)
                    break
                except RecursionError:
                    yield ParseError(
                        f"{name}, line {start}",
                        f"example {index + 1} is nested deeper than any dataset row "
                        f"(over {MAX_NESTING} levels)",
                    )
                    return
                except json.JSONDecodeError as exc:
                    # An error at the end of the buffer may only mean "read on".
                    maybe_cut = exc.pos >= len(buffer) - 1 or exc.msg.startswith("Unterminated")
                    if maybe_cut and more():
                        continue
                    reason = "the file looks truncated" if maybe_cut else exc.msg
                    yield ParseError(
                        f"{name}, line {line_at(exc.pos)}",
                        f"example {index + 1} is not valid JSON ({reason})",
                    )
                    return
            yield Row(f"{name}, example {index + 1} (line {start})", value)
            position = end
            index += 1


def _jsonl(path: Path) -> Iterator[Item]:
    with path.open("r", encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            where = f"{path.name}, line {number}"
            try:
                yield Row(where, load_json(text))
            except json.JSONDecodeError as exc:
                yield ParseError(
                    where, f"not valid JSON ({exc.msg.removesuffix(' at')}, column {exc.colno})"
                )


def _delimited(path: Path) -> Iterator[Item]:
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with path.open("r", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = reader.fieldnames or []
        if len(header) == 1:
            other = next(
                (d for d in (";", "\t", ",", "|") if d != delimiter and d in header[0]), None
            )
            if other is not None:
                shown = {"\t": "tab", ";": "';'", ",": "','", "|": "'|'"}[other]
                raise UserError(
                    f"{path.name}: the header has one column, {header[0]!r}; the file looks "
                    f"{shown}-separated, but {path.suffix} files are read as "
                    f"{'tab' if delimiter == chr(9) else 'comma'}-separated.",
                    hint="Rename it (.tsv for tabs, .csv for commas) or convert the separator.",
                )
        for number, record in enumerate(reader, start=2):
            if None in record:  # more fields than the header names
                yield ParseError(
                    f"{path.name}, line {number}",
                    f"{len(header) + len(record[None])} fields, the header has {len(header)}",
                )
                continue
            yield Row(f"{path.name}, line {number}", dict(record))


def _parquet(path: Path) -> Iterator[Item]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("Reading .parquet needs pyarrow (pip install pyarrow).") from None
    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError subclasses
        raise UserError(f"{path.name}: not a readable Parquet file ({exc}).") from None
    number = 0
    for batch in table.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            number += 1
            yield Row(f"{path.name}, row {number}", record)


def text_split_for(path: Path, split: TextSplit) -> TextSplit:
    """auto: blank-line-separated blocks when the file has any, else one document per line."""
    if split != "auto":
        return split
    with path.open("r", encoding="utf-8") as handle:
        seen_text = False
        for number, text in enumerate(handle):
            if text.strip():
                seen_text = True
            elif seen_text:
                return "paragraph"
            if number > 100_000:
                break
    return "line"


def _text(path: Path, split: TextSplit) -> Iterator[Item]:
    split = text_split_for(path, split)
    with path.open("r", encoding="utf-8") as handle:
        if split == "line":
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    yield Row(f"{path.name}, line {number}", {"text": text.rstrip("\n")})
            return
        block: list[str] = []
        start = 1
        for number, text in enumerate(handle, start=1):
            if text.strip():
                if not block:
                    start = number
                block.append(text.rstrip("\n"))
            elif block:
                yield Row(f"{path.name}, line {start}", {"text": "\n".join(block)})
                block = []
        if block:
            yield Row(f"{path.name}, line {start}", {"text": "\n".join(block)})


def _looks_binary(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096)
    if path.suffix == ".parquet":
        return False
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a cut multi-byte character at the end is fine
    return False


def looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not looks_local(text)


def dataset_files(path: Path) -> list[Path]:
    """The files a dataset path stands for; a UserError when there are none."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder.")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise UserError(f"{path}: the folder holds no dataset files ({', '.join(SUFFIXES)}).")
        kinds = {".csv" if p.suffix == ".tsv" else p.suffix for p in files}
        if len(kinds) > 1:
            listing = ", ".join(p.name for p in files)
            raise UserError(
                f"{path}: the folder mixes file types ({listing}); a dataset folder holds files "
                "of one type.",
                hint="Move the other files away, or point at one file.",
            )
        return files
    problem = regular_file_problem(path)
    if problem is not None:
        raise UserError(f"{path}: {problem}; a dataset is a file or a folder of files.")
    if path.suffix not in SUFFIXES:
        raise UserError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; "
            f"use one of {', '.join(SUFFIXES)}."
        )
    return [path]


def content_sha256(path: Path) -> str | None:
    """The SHA-256 of a local dataset's bytes (a folder's files in name order, each
    after its name), so a model card can name the data without its path; None for a
    Hub dataset, whose id and split name it already."""
    if not path.exists():
        return None
    digest = hashlib.sha256()
    for file in dataset_files(path):
        if path.is_dir():
            digest.update(file.name.encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def read_items(
    source: str | Path,
    text_split: TextSplit = "auto",
    name: str | None = None,
    split: str = "train",
) -> Iterator[Item]:
    """Every row of every file behind ``source`` (or of a Hub dataset), in order.

    ``source`` as the person wrote it: ``Path`` drops a leading ``./``, which is what
    tells ``./org/data`` (a missing folder) from ``org/data`` (a Hub id)."""
    path = Path(source)
    if not path.exists() and looks_like_hub_id(str(source)):
        from ftwizard.core.data.hub import hub_items

        yield from hub_items(str(source), name, split)
        return
    for file in dataset_files(path):
        if file.stat().st_size == 0:
            raise UserError(f"{file}: the file is empty.")
        if _looks_binary(file):
            raise UserError(
                f"{file}: this is not a text file (it holds binary data).",
                hint=f"Datasets are {', '.join(SUFFIXES)} files.",
            )
        try:
            if file.suffix == ".json":
                yield from _json_array(file)
            elif file.suffix == ".jsonl":
                yield from _jsonl(file)
            elif file.suffix in (".csv", ".tsv"):
                yield from _delimited(file)
            elif file.suffix == ".parquet":
                yield from _parquet(file)
            else:
                yield from _text(file, text_split)
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{file}: not UTF-8 text (byte {exc.start}).", hint="Save the file as UTF-8."
            ) from None

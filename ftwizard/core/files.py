"""Reading files ftwizard did not write itself, within bounds.

A preset, a dataset or a run folder's status may be hostile or just damaged: a FIFO
that never ends, a link to ``/dev/zero``, a YAML alias bomb whose 700 bytes expand to
gigabytes, JSON nested 100,000 deep. Every reader of such files goes through here, so
each of those ends in one message (a :class:`UserError`, or a :class:`Damaged` value
for files a viewer lists) within a second or two and a few megabytes.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from ftwizard.core.errors import UserError

# A preset or a run's config.yaml is a few kilobytes; a status file less.
SMALL_FILE_BYTES = 1 << 20
# No configuration or dataset row needs more; json and PyYAML recurse once per level and
# end in a RecursionError near 1,000.
MAX_NESTING = 100
# What an error message repeats of a value a person gave.
SHOWN_CHARS = 60


class Damaged(ValueError):
    """A file that exists but cannot be used: what is wrong, with the file named."""


def shorten(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message never echoes a whole file."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def file_kind(mode: int) -> str:
    """A non-regular file's kind in words (what ``stat`` says it is)."""
    for test, words in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def regular_file_problem(path: Path) -> str | None:
    """Why ``path`` (links followed) is not a regular file we may read; None when it is."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    return None if stat.S_ISREG(mode) else f"is {file_kind(mode)}, not a regular file"


def read_small_text(path: Path, what: str, limit: int = SMALL_FILE_BYTES) -> str:
    """The UTF-8 text of a small regular file; a UserError naming ``what`` otherwise.

    The file is opened without blocking and checked again once open, so a FIFO put in
    its place after the first check cannot hang the reader.
    """
    problem = regular_file_problem(path)
    if problem is not None:
        raise UserError(f"{path}: {problem}; expected {what}.")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise UserError(f"{path}: cannot read {what} ({error.strerror}).") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise UserError(f"{path}: not a regular file; expected {what}.")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UserError(
            f"{path}: larger than {limit // 1024:,} KB; {what} is far smaller.",
            hint="Check that this is the file you meant.",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text (byte {error.start}); expected {what}.") from None


def load_json(text: str | bytes) -> Any:
    """``json.loads`` with nesting past the interpreter's depth as a ValueError (json
    raises RecursionError there, which no caller expects)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError(
            "nested too deeply",
            text if isinstance(text, str) else "",
            0,
        ) from None


def check_yaml_shape(text: str, label: str) -> None:
    """Refuse YAML aliases and deep nesting before anything builds the document.

    A run configuration never needs ``*alias``; expanding them is how 700 bytes become
    gigabytes. The parser's events are read one by one, in time linear in the text.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise UserError(
                    f"{label}, line {line}: YAML aliases (*{event.anchor}) are not allowed in "
                    "a run configuration.",
                    hint="Write the value out where it is used.",
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    line = event.start_mark.line + 1 if event.start_mark else "?"
                    raise UserError(
                        f"{label}, line {line}: nested more than {MAX_NESTING} levels deep; "
                        "a run configuration is sections of keys."
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # the loader that follows reports it with its line


def load_yaml(text: str, label: str) -> Any:
    """``yaml.safe_load`` of a run configuration, after :func:`check_yaml_shape`."""
    check_yaml_shape(text, label)
    return yaml.safe_load(text)


class WouldReplace(UserError):
    """A file is there already, and the person did not say to replace it."""


def check_target(path: Path, what: str, force: bool = False) -> None:
    """Refuse, before anything is written, a target that cannot be written (a folder, a
    name under a file) or one that would replace a file the person did not offer
    (unless ``force``): what they typed or saved is never lost without a word."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file name for {what}.")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UserError(f"{path}: {parent} is a file, not a folder; {what} cannot go under it.")
    if (path.exists() or path.is_symlink()) and not force:
        raise WouldReplace(
            f"{path}: exists already; {what} would replace it.",
            hint="Add --force to replace it, or give another name.",
        )

"""Reading, overriding, validating and writing run configurations.

Layering follows trl's parser: defaults < YAML preset < ``--set`` flags. Every
problem is collected and reported at once, each naming where it came from (file
and line, or the ``--set`` flag), the dotted key, and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

import annotated_types
import yaml
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from ftwizard.core.config.presets import resolve_shipped_files
from ftwizard.core.config.schema import SECTIONS, RunConfig
from ftwizard.core.errors import ConfigError, UserError
from ftwizard.core.files import check_yaml_shape, read_small_text, shorten

KeyPath = tuple[str, ...]


class _Origins:
    """Where each key of the raw configuration came from, for messages."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[KeyPath, int] = {}
        self.flags: dict[KeyPath, str] = {}

    def describe(self, path: KeyPath) -> str:
        # The nearest key we know about: a bad value inside a list points at its key.
        for end in range(len(path), 0, -1):
            key = path[:end]
            if key in self.flags:
                return self.flags[key]
            if key in self.lines:
                return f"{self.source}, line {self.lines[key]}"
        # An unknown section is reported alone: name the flag that set a key under it.
        for key, label in self.flags.items():
            if key[: len(path)] == path:
                return label
        return self.source


def _key_lines(node: yaml.Node, prefix: KeyPath = ()) -> dict[KeyPath, int]:
    """Map each dotted key of a composed YAML mapping to its 1-based line."""
    lines: dict[KeyPath, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    return lines


def _read_yaml(path: Path) -> tuple[dict[str, Any], _Origins]:
    label = str(path)
    if not path.exists():
        raise UserError(
            f"{label}: no such preset file.",
            hint="Run `ftwizard presets` to list the built-in presets, or check the path.",
        )
    if path.is_dir():
        raise UserError(f"{label}: is a folder; give the path of a .yaml preset file.")
    text = read_small_text(path, "a .yaml preset file")
    check_yaml_shape(text, label)
    origins = _Origins(label)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{label}{where}: not valid YAML ({problem}).") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(
            f"{label}: a preset must be a mapping of sections (model:, data:, training: ...), "
            f"not a {type(data).__name__}."
        )
    if node is not None:
        origins.lines = _key_lines(node)
    return data, origins


def parse_override(flag: str) -> tuple[KeyPath, Any]:
    """Split ``section.key=value``; the value is read as a YAML scalar or list."""
    key, sep, raw_value = flag.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(
            f"--set {flag}: expected section.key=value, e.g. --set training.learning_rate=1e-4."
        )
    path = tuple(part.strip() for part in key.split("."))
    if any(not part for part in path):
        raise UserError(f"--set {flag}: `{key}` is not a dotted key such as training.max_steps.")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else ""
    except yaml.YAMLError:
        value = raw_value  # let validation say what is wrong with it
    return path, value


Override = str | tuple[str, str]
"""``section.key=value`` from --set, or (the flag as typed, ``section.key=value``)."""


def looks_secret(key: str) -> bool:
    """A key named like a credential (``hf_token``, ``api_key``): its value is never shown."""
    return key.lower().endswith(("token", "key"))


def _apply_overrides(data: dict[str, Any], origins: _Origins, flags: Sequence[Override]) -> None:
    for flag in flags:
        label, text = flag if isinstance(flag, tuple) else (f"--set {flag}", flag)
        path, value = parse_override(text)
        if looks_secret(path[-1]):
            # Error messages quote the flag: a pasted token must not reach the terminal
            # (or a CI log) through them.
            label = f"--set {'.'.join(path)}=***"
        target = data
        for part in path[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        target[path[-1]] = value
        origins.flags[path] = label


def _closest(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _unknown_key_message(path: KeyPath) -> str:
    if len(path) == 1:
        # A field written at top level instead of under its section?
        homes = [f"{s}.{path[0]}" for s, m in SECTIONS.items() if path[0] in m.model_fields]
        guess = homes[0] if homes else _closest(path[0], RunConfig.model_fields)
    else:
        section = SECTIONS.get(path[0])
        fields = section.model_fields if section is not None else {}
        near = _closest(path[-1], fields)
        if near:
            guess = f"{path[0]}.{near}"
        else:
            homes = [f"{s}.{path[-1]}" for s, m in SECTIONS.items() if path[-1] in m.model_fields]
            guess = homes[0] if homes else None
    if looks_secret(path[-1]):
        return (
            "unknown key; ftwizard takes no tokens or keys in its configuration: the Hub "
            "token comes from HF_TOKEN (or `hf auth login`), W&B's from WANDB_API_KEY, and "
            "neither is written to a run folder."
        )
    hint = f"did you mean `{guess}`?" if guess else "see `ftwizard presets show demo-cpu`."
    return f"unknown key; {hint}"


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def field_info(path: KeyPath) -> FieldInfo | None:
    """The pydantic field behind a dotted key, or None (and for the whole configuration:
    a rule across its sections has no one key)."""
    if not path:
        return None
    if len(path) == 1:
        return RunConfig.model_fields.get(path[0])
    section = SECTIONS.get(path[0])
    if section is None:
        return None
    return section.model_fields.get(path[1])


def allowed_values(path: KeyPath) -> str | None:
    """What a field accepts, in words: its choices or its numeric range."""
    info = field_info(path)
    if info is None:
        return None
    choices = get_args(info.annotation)
    if choices and all(isinstance(c, (str, int)) for c in choices):  # a Literal
        return "one of " + ", ".join(str(c) for c in choices)
    bounds = []
    for meta in info.metadata:
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                bounds.append(f"{symbol} {_number(getattr(meta, attr))}")
    return " and ".join(bounds) if bounds else None


def _problem(error: Mapping[str, Any], origins: _Origins) -> str:
    path = tuple(str(p) for p in error["loc"] if not isinstance(p, int))
    dotted = ".".join(path) or "(top level)"
    where = origins.describe(path)
    if error["type"] == "extra_forbidden":
        return f"`{dotted}` in {where}: {_unknown_key_message(path)}"
    message = str(error["msg"]).replace("Input should be", "must be")
    message = message.removeprefix("Value error, ")
    if error["type"] == "model_type":
        message = "must be a mapping of keys (section: then indented key: value lines)"
    shown = error.get("input")
    got = f" (got {shorten(shown)})" if shown is not None and not isinstance(shown, dict) else ""
    allowed = allowed_values(path)
    suffix = f"; allowed: {allowed}" if allowed and error["type"] != "literal_error" else ""
    return f"`{dotted}` in {where}: {message}{got}{suffix}"


def _validate(data: dict[str, Any], origins: _Origins) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(e, origins) for e in exc.errors()]
        raise ConfigError(origins.source, problems) from None


def load_config(path: str | Path | None, overrides: Sequence[Override] = ()) -> RunConfig:
    """Defaults, then the preset file (if any), then ``--set`` flags; validated."""
    if path is None:
        data: dict[str, Any] = {}
        origins = _Origins("the defaults")
    else:
        data, origins = _read_yaml(Path(path))
        resolve_shipped_files(Path(path), data)
    _apply_overrides(data, origins, overrides)
    return _validate(data, origins)


def with_overrides(config: RunConfig, overrides: Sequence[Override], source: str) -> RunConfig:
    """``config`` with ``section.key=value`` changes applied and everything validated again."""
    data = config.to_dict()
    origins = _Origins(source)
    _apply_overrides(data, origins, overrides)
    return _validate(data, origins)


def config_from_dict(data: Mapping[str, Any], source: str = "the configuration") -> RunConfig:
    """Validate plain data (a resolved config read back from a run folder, a form)."""
    return _validate(dict(data), _Origins(source))


def _inline_yaml(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1_000_000)
    return text.strip().removesuffix("...").strip()


def _commented_yaml(config: RunConfig) -> str:
    lines: list[str] = []
    for key, value in config.to_dict().items():
        section = SECTIONS.get(key)
        if section is None:
            description = RunConfig.model_fields[key].description
            lines.append(f"{key}: {_inline_yaml(value)}  # {description}")
            continue
        summary = (section.__doc__ or "").strip().splitlines()[0]
        lines.append(f"{key}:  # {summary}")
        for name, item in value.items():
            description = section.model_fields[name].description
            lines.append(f"  {name}: {_inline_yaml(item)}  # {description}")
    return "\n".join(lines) + "\n"


def dump_config(config: RunConfig, comments: bool = False) -> str:
    """YAML text with every field, in declaration order; loads back to an equal config.

    With ``comments``, each key carries its one-line description.
    """
    if comments:
        return _commented_yaml(config)
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True, width=100)


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write a preset atomically (a reader never sees half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(dump_config(config), encoding="utf-8")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)  # a refused rename (onto a folder) leaves nothing


def field_problems(data: Mapping[str, Any]) -> tuple[RunConfig | None, dict[str, str]]:
    """Validate form data: the configuration, or one message per dotted key.

    Checks across fields (such as bf16 with fp16) have no single key: they come back
    under ``""``. The TUI form shows each message beside its field.
    """
    try:
        return RunConfig.model_validate(dict(data)), {}
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            path = tuple(str(p) for p in error["loc"] if not isinstance(p, int))
            message = str(error["msg"]).replace("Input should be", "must be")
            message = message.removeprefix("Value error, ")
            allowed = allowed_values(path)
            if allowed and error["type"] != "literal_error":
                message += f"; allowed: {allowed}"
            problems.setdefault(".".join(path), message)
        return None, problems


def parse_field_text(text: str) -> Any:
    """What a typed value means, the same way ``--set key=value`` reads it."""
    return parse_override(f"x={text}")[1]

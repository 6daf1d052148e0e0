"""A form generated from the run configuration's fields.

Every field of :class:`RunConfig` gets an editor chosen from its type (a list for
choices, on / off for booleans, a text field otherwise), its description as
help text and its allowed range; the whole form is validated on every change with
the same rules as presets and ``--set``, and problems appear under their fields.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic.fields import FieldInfo
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, TabbedContent, TabPane

from ftwizard.core.config.schema import SECTIONS, RunConfig
from ftwizard.core.config.yaml_io import allowed_values, field_problems, parse_field_text

# What most people change; everything else is under Advanced.
BASIC = (
    "method.objective",
    "method.adapter",
    "lora.r",
    "lora.lora_alpha",
    "training.learning_rate",
    "training.num_train_epochs",
    "training.max_steps",
    "training.per_device_train_batch_size",
    "training.gradient_accumulation_steps",
    "training.max_length",
    "training.gradient_checkpointing",
    "training.optim",
    "output.run_name",
)

# Chosen in the model and data steps, not retyped here.
FIXED = ("model.model_name_or_path", "data.path")

Editor = Input | Select[Any]


def _choices(info: FieldInfo) -> tuple[Any, ...] | None:
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return None


def _choice_text(choice: Any) -> str:
    if isinstance(choice, bool):
        return "on" if choice else "off"
    return str(choice)


def _optional(info: FieldInfo) -> bool:
    annotation = info.annotation
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return str(value)


def field_keys() -> list[str]:
    keys = ["description"]
    for section, model in SECTIONS.items():
        keys += [f"{section}.{name}" for name in model.model_fields]
    return [key for key in keys if key not in FIXED]


def _info(key: str) -> FieldInfo:
    if "." not in key:
        return RunConfig.model_fields[key]
    section, name = key.split(".")
    return SECTIONS[section].model_fields[name]


def _get(config: RunConfig, key: str) -> Any:
    data = config.to_dict()
    if "." not in key:
        return data[key]
    section, name = key.split(".")
    return data[section][name]


def editor_id(key: str) -> str:
    return "f-" + key.replace(".", "-")


class FieldRow(Vertical):
    """One field: its name and range, the editor, its description, its problem."""

    def __init__(self, key: str, value: Any) -> None:
        super().__init__(classes="field-row")
        self.key = key
        self.value = value

    def compose(self) -> ComposeResult:
        info = _info(self.key)
        allowed = allowed_values(tuple(self.key.split(".")))
        choices = _choices(info)
        editor: Editor
        if info.annotation is bool:
            # A list of on / off, not a switch: its state reads in words, without colour.
            choices = (True, False)
        if choices is not None:
            editor = Select(
                [(_choice_text(c), c) for c in choices],
                value=self.value,
                allow_blank=False,
                id=editor_id(self.key),
                compact=True,
            )
        else:
            editor = Input(_as_text(self.value), id=editor_id(self.key), compact=True)
        editor.tooltip = info.description
        with Horizontal(classes="field-line"):
            yield Label(self.key, classes="field-label")
            yield editor
        help_text = info.description or ""
        if allowed and not choices:
            help_text += f" ({allowed})"
        yield Static(help_text, classes="field-help")
        error = Static("", classes="field-error")
        error.display = False
        yield error

    @property
    def editor(self) -> Widget:
        return self.query_one("#" + editor_id(self.key))

    def read(self) -> Any:
        editor = self.editor
        if isinstance(editor, Select):
            return editor.value
        assert isinstance(editor, Input)
        info = _info(self.key)
        text = editor.value.strip()
        if not text and _optional(info):
            return None
        if info.annotation in (str, str | None):
            return editor.value  # as typed: a run name of digits stays a name
        return parse_field_text(text)

    def write(self, value: Any) -> None:
        editor = self.editor
        if isinstance(editor, Select):
            editor.value = value
        elif isinstance(editor, Input):
            editor.value = _as_text(value)

    def show_problem(self, problem: str | None) -> None:
        self.set_class(problem is not None, "-invalid")
        error = self.query_one(".field-error", Static)
        error.update(f"x {problem}" if problem else "")
        error.display = problem is not None


class ConfigForm(Vertical):
    """Basic and Advanced tabs of :class:`FieldRow`; posts :class:`Changed` per edit."""

    class Changed(Message):
        def __init__(self, config: RunConfig | None, problems: dict[str, str]) -> None:
            super().__init__()
            self.config = config
            self.problems = problems

    def __init__(self, config: RunConfig, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._initial = config
        self._loading = False
        self._pending = False

    def compose(self) -> ComposeResult:
        keys = field_keys()
        groups = {"Basic": list(BASIC), "Advanced": [k for k in keys if k not in BASIC]}
        with TabbedContent():
            for title, group in groups.items():
                with TabPane(title), VerticalScroll():
                    for key in group:
                        yield FieldRow(key, _get(self._initial, key))

    @property
    def rows(self) -> list[FieldRow]:
        return list(self.query(FieldRow))

    def data(self) -> dict[str, Any]:
        data = self._initial.to_dict()  # the fixed keys come from here
        for row in self.rows:
            if "." in row.key:
                section, name = row.key.split(".")
                data[section][name] = row.read()
            else:
                data[row.key] = row.read()
        return data

    def validate_now(self) -> tuple[RunConfig | None, dict[str, str]]:
        config, problems = field_problems(self.data())
        for row in self.rows:
            row.show_problem(problems.get(row.key))
        return config, problems

    def load(self, config: RunConfig) -> None:
        self._initial = config
        self._loading = True
        for row in self.rows:
            row.write(_get(config, row.key))
        self._loading = False
        self._changed()

    def _changed(self) -> None:
        config, problems = self.validate_now()
        self.post_message(self.Changed(config, problems))

    @on(Input.Changed)
    @on(Select.Changed)
    def _edited(self, event: Message) -> None:
        # Several editors change at once when a preset loads: validate once per refresh.
        if not self._loading and not self._pending:
            self._pending = True
            self.call_after_refresh(self._flush)

    def _flush(self) -> None:
        self._pending = False
        self._changed()

"""An Ollama ``Modelfile`` for an exported GGUF: the chat template the run trained with,
rewritten as the Go template Ollama runs, its stop tokens and its context length.

Ollama cannot run a Jinja chat template; it runs a Go ``text/template`` over
``.System`` and ``.Messages``. Rather than translate Jinja (which no tool can do in
general), the run's own template is rendered around marker texts and cut where the
markers sit: what it writes before a system prompt, between the system prompt and the
first user turn, between a user turn and the answer, and so on. The Go template
replays those pieces in order. The same pieces are then replayed here on longer
conversations and compared with the Jinja output, so a template whose text depends on
more than the previous turn (one that moves the system prompt into the last user turn,
say) is refused in words instead of exported wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.errors import UserError
from ftwizard.core.trainer_calls import OllamaFacts

# (messages, add_generation_prompt) -> prompt text, as tokenizer.apply_chat_template renders it
Render = Callable[[list[dict[str, str]], bool], str]

# Texts no template writes by itself, and that survive a template's .strip() or | trim.
SYSTEM, USER_1, ASSISTANT_1, USER_2, ASSISTANT_2, USER_3 = (
    f"ftwz{name}q7"
    for name in ("system", "userone", "answerone", "usertwo", "answertwo", "userthree")
)


LEAVE_OUT = (
    "Leave out --ollama: Ollama then picks a template for the GGUF's own chat template when "
    "it knows it; or write the Modelfile's TEMPLATE by hand."
)


class TemplateNotPortable(UserError):
    """The chat template cannot be replayed turn by turn as Ollama's Go template."""


@dataclass(frozen=True)
class TurnPieces:
    """The text a chat template writes around each turn, keyed by the turn before it."""

    system_before: str  # before the system prompt
    first_user_after_system: str  # between the system prompt and the first user turn
    first_user_alone: str  # before the first user turn when there is no system prompt
    answer_after_user: str  # between a user turn and the assistant's answer
    user_after_answer: str  # between an answer and the next user turn
    generation_prompt: str  # after the last user turn: where the model starts to answer

    def replay(self, messages: list[dict[str, str]]) -> str:
        """What the Go template writes for ``messages``, in Python: the check's other side."""
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        text, previous = "", ""
        if system:
            text, previous = self.system_before + system, "system"
        for message in messages:
            role = message["role"]
            if role == "user":
                text += {
                    "system": self.first_user_after_system,
                    "assistant": self.user_after_answer,
                }.get(previous, self.first_user_alone)
            elif role == "assistant":
                text += self.answer_after_user
            else:
                continue
            text += message["content"]
            previous = role
        return text + (self.generation_prompt if previous != "assistant" else "")

    def go_template(self) -> str:
        """The same replay as a Go text/template over Ollama's .System and .Messages.

        No ``{{-`` trimming: every piece is literal text that must come out as it is.
        Ollama also lists system messages in .Messages; they are written once, via .System.
        """
        pieces = [
            '{{ $previous := "" }}',
            f"{{{{ if .System }}}}{self.system_before}{{{{ .System }}}}",
            '{{ $previous = "system" }}{{ end }}',
            "{{ range .Messages }}",
            '{{ if eq .Role "user" }}',
            f'{{{{ if eq $previous "system" }}}}{self.first_user_after_system}',
            f'{{{{ else if eq $previous "assistant" }}}}{self.user_after_answer}',
            f"{{{{ else }}}}{self.first_user_alone}{{{{ end }}}}",
            '{{ .Content }}{{ $previous = "user" }}',
            '{{ else if eq .Role "assistant" }}',
            f'{self.answer_after_user}{{{{ .Content }}}}{{{{ $previous = "assistant" }}}}',
            "{{ end }}",
            "{{ end }}",
            f'{{{{ if ne $previous "assistant" }}}}{self.generation_prompt}{{{{ end }}}}',
        ]
        return "".join(pieces)


def _cut(text: str, markers: list[str], what: str) -> list[str]:
    """The text between ``markers`` (each found once, in order): len(markers) + 1 pieces."""
    pieces, rest = [], text
    for marker in markers:
        if rest.count(marker) != 1:
            raise TemplateNotPortable(
                f"The chat template does not write each message once, in order ({what}), so "
                "it cannot be replayed as an Ollama template.",
                hint=LEAVE_OUT,
            )
        before, rest = rest.split(marker)
        pieces.append(before)
    return [*pieces, rest]


def turn_pieces(render: Render, bos_token: str | None) -> TurnPieces:
    """Cut the template's text around each turn and check the cut replays longer chats.

    ``bos_token``: the text of the BOS token when the GGUF asks llama.cpp to add it, so a
    template that writes it too does not give the model two.
    """

    def turn(role: str, content: str) -> dict[str, str]:
        return {"role": role, "content": content}

    def rendered(messages: list[dict[str, str]]) -> str:
        try:
            return render(messages, True)
        except Exception as error:  # the template's own raise_exception, say
            roles = ", ".join(m["role"] for m in messages)
            raise TemplateNotPortable(
                f"The chat template refuses a conversation Ollama can send ({roles}): {error}",
                hint=LEAVE_OUT,
            ) from error

    chat = [turn("user", USER_1), turn("assistant", ASSISTANT_1), turn("user", USER_2)]
    system = [turn("system", SYSTEM)]
    with_system = _cut(
        rendered(system + chat), [SYSTEM, USER_1, ASSISTANT_1, USER_2], "with a system prompt"
    )
    alone = _cut(rendered(chat), [USER_1, ASSISTANT_1, USER_2], "without a system prompt")
    if bos_token:
        with_system[0] = with_system[0].removeprefix(bos_token)
        alone[0] = alone[0].removeprefix(bos_token)
    pieces = TurnPieces(
        system_before=with_system[0],
        first_user_after_system=with_system[1],
        first_user_alone=alone[0],
        answer_after_user=with_system[2],
        user_after_answer=with_system[3],
        generation_prompt=with_system[4],
    )
    longer = [*chat, turn("assistant", ASSISTANT_2), turn("user", USER_3)]
    for messages in ([chat[0]], system + chat[:1], longer, system + longer):
        expected = rendered(messages)
        if bos_token:
            expected = expected.removeprefix(bos_token)
        if pieces.replay(messages) != expected:
            roles = ", ".join(m["role"] for m in messages)
            raise TemplateNotPortable(
                f"The chat template writes a turn differently depending on more than the turn "
                f"before it (checked on: {roles}), so a turn-by-turn Ollama template would "
                "prompt the model differently from training.",
                hint=LEAVE_OUT,
            )
    return pieces


def _quoted(text: str, what: str) -> str:
    if '"""' in text:
        raise TemplateNotPortable(
            f'The {what} contains """, which a Modelfile cannot quote.',
            hint="Leave out --ollama and write the Modelfile by hand.",
        )
    return f'"""{text}"""'


def modelfile(
    gguf_name: str, pieces: TurnPieces | None, stop_tokens: list[str], context_length: int
) -> str:
    """The Modelfile text; ``gguf_name`` is the GGUF's file name, in the same folder.

    ``pieces`` None: the model has no chat template (a base model, continued pre-training);
    Ollama then passes the prompt as it is.
    """
    if pieces is None:
        template = ["# No chat template: Ollama passes the prompt to the model as it is."]
    else:
        if "{{" in "".join(vars(pieces).values()):
            raise TemplateNotPortable(
                "The chat template writes '{{' itself, which Ollama's Go template would read "
                "as an action.",
                hint="Leave out --ollama and write the Modelfile by hand.",
            )
        template = [f"TEMPLATE {_quoted(pieces.go_template(), 'chat template')}"]
    lines = [
        "# Written by ftwizard: the chat template this model trained with, as Ollama runs it.",
        f"FROM ./{gguf_name}",
        *template,
        *(f'PARAMETER stop "{token}"' for token in stop_tokens if '"' not in token),
        f"PARAMETER num_ctx {context_length}",
    ]
    return "\n".join(lines) + "\n"


def write_modelfile(gguf_path: Path, facts: OllamaFacts, context_length: int) -> Path:
    """``Modelfile`` beside ``gguf_path`` from the exporter's answer (pieces and stops)."""
    pieces = None if facts.pieces is None else TurnPieces(**facts.pieces)
    path = gguf_path.with_name("Modelfile")
    path.write_text(modelfile(gguf_path.name, pieces, facts.stop, context_length), "utf-8")
    return path


# Ollama's model names: an optional namespace, a name, an optional :tag.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?(:[A-Za-z0-9._-]+)?")


def check_model_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise UserError(
            f"`{name}` is not a name Ollama accepts: letters, digits, '.', '_' and '-', with "
            "an optional namespace/ and :tag.",
            hint="e.g. --ollama my-assistant or --ollama my-assistant:v1",
        )


def create_command(name: str, modelfile_path: Path) -> list[str]:
    """The command that builds the Ollama model from the Modelfile."""
    return ["ollama", "create", name, "-f", str(modelfile_path)]

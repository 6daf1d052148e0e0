"""People judge a finished run: its answer against the base model's, shown as A and B
in a seeded order; a, b or t decides, h r o mark the better answer, s skips.

The same session as ``ftwizard judge`` (``core/evaluation/judging.py``): every decision
is kept in the run folder and a decided one appended as a preference pair to
``RUN/judged-pairs.jsonl``, which the next stage's DPO trains on. The answers are
generated in the trainer package's process, from a worker.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Static

from ftwizard.core.errors import in_words
from ftwizard.core.evaluation.judging import MARK_KEYS, JudgingSession, Key, Mark, prepare_session
from ftwizard.core.evaluation.messages import Progress
from ftwizard.core.runs.folder import RunFolder
from ftwizard.tui.screens.base import WizardScreen

PROMPTS = 20


class JudgeScreen(WizardScreen):
    BINDINGS = [
        Binding("a", "decide('a')", "A better"),
        Binding("b", "decide('b')", "B better"),
        Binding("t", "decide('t')", "Tie"),
        Binding("h", "mark('h')", "Helpful", show=False),
        Binding("r", "mark('r')", "Harmless", show=False),
        Binding("o", "mark('o')", "Honest", show=False),
        Binding("s", "skip", "Skip"),
        Binding("escape", "back", "Back"),
    ]

    class Ready(Message):
        def __init__(self, session: JudgingSession | None, error: str | None) -> None:
            super().__init__()
            self.session, self.error = session, error

    def __init__(
        self,
        run: RunFolder,
        prompts: int = PROMPTS,
        max_new_tokens: int = 96,
        session: JudgingSession | None = None,
    ) -> None:
        """``session``: answers already generated (the judging goes on from them)."""
        super().__init__()
        self.run = run
        self.prompts, self.max_new_tokens = prompts, max_new_tokens
        self.session = session
        self.number = 0
        self.marks: set[Mark] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="judge-body"):
            yield Static("", id="judge-prompt")
            with Horizontal(id="judge-pair"):
                yield Static("", id="judge-a", classes="judge-answer")
                yield Static("", id="judge-b", classes="judge-answer")
        yield Static("Both models answer the validation prompts...", id="judge-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#judge-body").border_title = f"Judge {self.run.name} against its base"
        self.query_one("#judge-a").border_title = "A"
        self.query_one("#judge-b").border_title = "B"
        if self.session is None:
            self._prepare()
        else:
            self._show()

    @work(thread=True, exclusive=True, group="judge")
    def _prepare(self) -> None:
        def moved(progress: Progress) -> None:
            text = f"{progress.label} answers {progress.done} of {progress.total}..."
            self.app.call_from_thread(self._status, text)

        try:
            session = prepare_session(
                self.run, None, moved, limit=self.prompts, max_new_tokens=self.max_new_tokens
            )
        except Exception as error:  # noqa: BLE001 - shown to the person; the app must not crash
            self.post_message(self.Ready(None, in_words(error)))
            return
        self.post_message(self.Ready(session, None))

    def _status(self, text: str | Text) -> None:
        self.query_one("#judge-status", Static).update(text)

    def on_judge_screen_ready(self, message: Ready) -> None:
        if message.error:
            self._status(Text(f"x {message.error}", style="bold red"))
            return
        self.session = message.session
        self._show()

    def _show(self) -> None:
        session = self.session
        assert session is not None
        if self.number >= len(session.examples):
            self._finish()
            return
        item = session.item(self.number)
        shown = Text(f"{session.where}\n", style="dim") if session.where else Text()
        for turn in item.prompt:
            shown.append(f"{turn['role']}: ", style="bold")
            shown.append(f"{turn['content']}\n")
        self.query_one("#judge-prompt", Static).update(shown)
        self.query_one("#judge-a", Static).update(Text(item.a))
        self.query_one("#judge-b", Static).update(Text(item.b))
        marks = ", ".join(sorted(self.marks)) or "none"
        self._status(
            f"{self.number + 1} of {len(session.examples)} · a/b/t decide · h r o mark "
            f"helpful, harmless, honest ({marks}) · s skip"
        )

    def _finish(self) -> None:
        assert self.session is not None
        tally = self.session.tally()
        if not tally.judged:
            self._status("Nothing judged.")
            return
        rate = tally.win_rate
        self._status(
            Text(
                f"tuned won {tally.wins}, lost {tally.losses}, tied {tally.ties}: win rate "
                f"{rate.value:.0%} ({rate.low:.0%}-{rate.high:.0%}); pairs in "
                f"{self.session.pairs_path.name}",
                style="bold",
            )
        )

    def action_decide(self, key: Key) -> None:
        if self.session is None or self.number >= len(self.session.examples):
            return
        try:
            self.session.decide(self.number, key, self.marks)
        except OSError as error:
            self._status(Text(f"x {in_words(error)}", style="bold red"))
            return
        self.action_skip()

    def action_mark(self, key: str) -> None:
        if self.session is not None and self.number < len(self.session.examples):
            self.marks ^= {MARK_KEYS[key]}
            self._show()

    def action_skip(self) -> None:
        if self.session is None or self.number >= len(self.session.examples):
            return
        self.number += 1
        self.marks = set()
        self._show()

    def action_back(self) -> None:
        self.app.pop_screen()

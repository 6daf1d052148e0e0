"""The model side of ``ftwizard chat``: the base and the fine-tuned model answering, streamed.

python -m ftwizard.trainer.chat RUN_DIR

Loads the base once. An adapter run answers as the base with the adapter switched off
(``disable_adapter()``), so both models cost one model's memory; a full fine-tune loads
its own weights beside the base. Both use the chat template the run trained with.

Talks JSON lines, the types of ``core/outputs/chat_messages.py`` (``core/outputs/chat.py``
is the other end): first ``ChatReady`` (or ``ChatFailed`` and exit 2); then per
``ChatRequest`` a ``ChatToken`` per piece of text as the answer is generated and an
``Answer`` with the figures. It ends at the end of its input, or when the process that
started it is gone: a viewer never keeps it alive.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from ftwizard.core.errors import UserError
from ftwizard.core.outputs.chat_messages import (
    Answer,
    ChatFailed,
    ChatReady,
    ChatRequest,
    ChatToken,
)
from ftwizard.core.outputs.prompts import prompt_label
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.trainer_calls import Message
from ftwizard.trainer.components.run_model import base_model, final_tokenizer, tuned_model


def _write(message: Message) -> None:
    sys.stdout.write(message.model_dump_json() + "\n")
    sys.stdout.flush()


def _exit_with_parent() -> None:
    """Stop when the viewer that started this process is gone (its pipe may outlive it)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


class Models:
    """The base and the tuned model, and how to ask either for an answer."""

    def __init__(self, run: RunFolder) -> None:
        run.require_text_model()
        self.tokenizer = final_tokenizer(run)
        base = base_model(run)
        self.adapter = (run.final_dir / "adapter_config.json").exists()
        self.tuned = tuned_model(run, base).eval()
        self.base = self.tuned if self.adapter else base.eval()

    def _inputs(self, messages: list[dict[str, str]]) -> dict[str, torch.Tensor]:
        if self.tokenizer.chat_template:
            inputs = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        else:  # a base model: the conversation as plain text
            inputs = self.tokenizer(prompt_label(messages), return_tensors="pt")
        return {k: v.to(self.tuned.device) for k, v in inputs.items()}

    def answer(self, request: ChatRequest) -> Answer:
        """Generate, writing each new piece of text as it comes; the figures at the end."""
        from transformers import TextIteratorStreamer

        tuned = request.model == "tuned"
        model = self.tuned if tuned else self.base
        switch_off = self.tuned.disable_adapter() if self.adapter and not tuned else nullcontext()
        inputs = self._inputs(request.messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        temperature = request.temperature
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": 0.9}
            if temperature > 0
            else {"do_sample": False}
        )
        output: list[torch.Tensor] = []

        def generate() -> None:
            torch.manual_seed(request.seed)  # one seed: base and tuned alike
            with switch_off, torch.no_grad():
                output.append(
                    model.generate(
                        **inputs,
                        max_new_tokens=request.max_new_tokens,
                        pad_token_id=self.tokenizer.pad_token_id,
                        streamer=streamer,
                        **sampling,
                    )
                )

        started = time.perf_counter()
        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        first: float | None = None
        pieces = []
        for piece in streamer:
            if piece:
                first = first or time.perf_counter()
                pieces.append(piece)
                _write(ChatToken(token=piece))
        worker.join()
        ended = time.perf_counter()
        new_tokens = int(output[0].shape[1] - inputs["input_ids"].shape[1]) if output else 0
        decoding = ended - (first or ended)
        return Answer(
            model=request.model,
            text="".join(pieces).strip(),
            new_tokens=new_tokens,
            first_token_s=round((first or ended) - started, 3),
            tokens_per_s=round((new_tokens - 1) / decoding, 1) if decoding > 0 else None,
        )


def serve(run: RunFolder) -> int:
    _exit_with_parent()
    started = time.perf_counter()
    try:
        models = Models(run)
    except UserError as error:
        _write(ChatFailed(error=error.message, hint=error.hint))
        return 2
    _write(
        ChatReady(
            adapter=models.adapter,
            device=str(models.tuned.device),
            chat_template=bool(models.tokenizer.chat_template),
            load_s=round(time.perf_counter() - started, 1),
        )
    )
    for line in sys.stdin:
        if line.strip():
            _write(models.answer(ChatRequest.model_validate_json(line)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftwizard.trainer.chat")
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    return serve(RunFolder(Path(args.run_dir)))


if __name__ == "__main__":
    sys.exit(main())

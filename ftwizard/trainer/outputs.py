"""After training: sample the base and the fine-tuned model side by side, and merge adapters.

echo '["Who are you?"]' | python -m ftwizard.trainer.outputs sample RUN_DIR
python -m ftwizard.trainer.outputs merge RUN_DIR [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ftwizard.core.errors import UserError
from ftwizard.core.outputs.prompts import prompt_label, prompt_messages
from ftwizard.core.runs.folder import RunFolder
from ftwizard.core.trainer_calls import Merged, SampleRow
from ftwizard.trainer.components.generate import generate
from ftwizard.trainer.components.loading import (
    load_tokenizer,
)
from ftwizard.trainer.components.reply import reply
from ftwizard.trainer.components.run_model import base_model, final_tokenizer, tuned_model


def sample(run: RunFolder, prompts: list[str], max_new_tokens: int) -> list[SampleRow]:
    config = run.read_config()
    tokenizer = load_tokenizer(config)
    base = base_model(run)
    before = [generate(base, tokenizer, prompt_messages(p), max_new_tokens) for p in prompts]
    tuned = tuned_model(run, base)
    tokenizer = final_tokenizer(run)
    after = [generate(tuned, tokenizer, prompt_messages(p), max_new_tokens) for p in prompts]
    return [
        SampleRow(prompt=prompt_label(prompt_messages(p)), base=b, fine_tuned=a)
        for p, b, a in zip(prompts, before, after, strict=True)
    ]


def merge(run: RunFolder, output: Path) -> Path:
    """A full model with the adapter folded in: safetensors, tokenizer and chat template."""
    if not (run.final_dir / "adapter_config.json").exists():
        raise UserError(
            f"{run.name} trained every weight: {run.final_dir} is already a full "
            "model, nothing to merge."
        )
    base = base_model(run)
    tuned = tuned_model(run, base).merge_and_unload()
    output.mkdir(parents=True, exist_ok=True)
    tuned.save_pretrained(str(output), safe_serialization=True)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(run.final_dir)).save_pretrained(str(output))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftwizard.trainer.outputs")
    parser.add_argument("action", choices=["sample", "merge"])
    parser.add_argument("run_dir")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    run = RunFolder(Path(args.run_dir))
    if args.action == "sample":
        # The prompts come as a JSON list on stdin, never in argv (visible in ps).
        prompts = json.loads(sys.stdin.read() or "[]")
        prompts = prompts or ["Who are you?"]
        return reply(lambda: [r.model_dump() for r in sample(run, prompts, args.max_new_tokens)])
    output = Path(args.output or run.path / "merged")
    return reply(lambda: Merged(output=str(merge(run, output))).model_dump())


if __name__ == "__main__":
    sys.exit(main())

"""The command line: one argparse tree, imported with nothing heavy behind it."""

from __future__ import annotations

import argparse

from ftwizard import __version__
from ftwizard.cli.flags import (
    add_data_flags,
    add_json,
    add_machine_flags,
    add_overrides,
    add_run_flags,
    add_runs_root,
    add_target,
)

DESCRIPTION = """\
Plan and run LoRA / QLoRA / full fine-tunes of language models from a terminal.

Run with no arguments to open the wizard. For scripts, run a preset headless:
  ftwizard --preset presets/demo-cpu.yaml --set training.max_steps=50 --dry-run
On several machines, the same command on each with --nodes K --node-rank R --master HOST
(`ftwizard plan ... --nodes K --save-preset F` prints them).
"""

EPILOG = """\
commands:
  detect     show GPUs, CPU, RAM and free disk (what the planner sees)
  estimate   predict the GPU memory of a training run, with a breakdown
  plan       recommend objective, method and settings for a model and a dataset
  data       check a dataset: its layout, every problem, token statistics, a preview
  runs       list runs and checkpoints; attach, stop and resume them
  sample     compare the base and the fine-tuned model on prompts
  chat       talk to the fine-tuned model, the base, or both side by side
  merge      fold an adapter into the base model
  export     the fine-tuned model as one GGUF file (llama.cpp, Ollama), or to the Hub
  presets    list, show and validate run configurations (YAML)
  models     list the model catalog, prepare the built-in demo model

Exit codes: 0 success, 1 a job failed, 2 bad input, 130 stopped by the user.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftwizard",
        allow_abbrev=False,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ftwizard {__version__}")
    # Distinct dests: a command's own --preset/--set/--json must not collide with these.
    parser.add_argument(
        "--preset",
        dest="run_preset",
        metavar="FILE",
        help="run this configuration headless (a path, or the name of a built-in preset)",
    )
    add_overrides(parser, dest="run_overrides")
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and print the resolved configuration only"
    )
    add_json(parser, dest="run_json")
    parser.add_argument(
        "--detach", action="store_true", help="with --preset: start training and return at once"
    )
    add_machine_flags(parser, prefix="run_")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    detect = commands.add_parser(
        "detect",
        help="show GPUs, CPU, RAM and free disk",
        description="Probe the hardware the way the planner sees it. Never fails: without an "
        "NVIDIA driver it reports CPU mode and why. Honours CUDA_VISIBLE_DEVICES.",
    )
    detect.add_argument(
        "--runs-root", default="runs", metavar="DIR", help="report free disk here (default: runs)"
    )
    add_json(detect)

    estimate = commands.add_parser(
        "estimate",
        help="predict the GPU memory of a training run",
        description="Predict torch's peak allocated memory and what nvidia-smi would show for "
        "one training run, with a breakdown, and say whether it fits the GPU; and the seconds "
        "per optimizer step and tokens per second on it (a throughput model measured on H100 "
        "and H200 runs). Works offline for catalog models, local folders and .gguf files.",
    )
    estimate.add_argument(
        "--model",
        metavar="MODEL",
        help="Hub id, catalog name, local folder or .gguf file (default: the preset's model)",
    )
    estimate.add_argument("--preset", metavar="FILE", help="start from this configuration")
    estimate.add_argument(
        "--tokens-per-example",
        type=int,
        metavar="N",
        help="the examples' mean length in tokens, for the speed figures (default: every "
        "example as long as max_length, the slow side)",
    )
    add_overrides(estimate)
    add_run_flags(estimate)
    add_target(estimate)
    add_json(estimate)

    plan = commands.add_parser(
        "plan",
        help="recommend objective, method and settings",
        description="Recommend an objective, a method and hyperparameters for a model, a dataset "
        "and a purpose, checked by the memory estimator, with every decision's reason.",
    )
    plan.add_argument(
        "--model",
        metavar="MODEL",
        required=True,
        help="Hub id, catalog name, local folder or .gguf file",
    )
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        metavar="PATH",
        help="the dataset (file, folder or Hub id): its rows, kind and token lengths feed the plan",
    )
    source.add_argument(
        "--rows", type=int, metavar="N", help="plan from a row count alone, before the data exists"
    )
    plan.add_argument(
        "--data-kind",
        choices=["chat", "preference", "kto", "text"],
        default="chat",
        help="with --rows: chat (instructions/conversations), preference (chosen/rejected "
        "pairs), kto (good/bad labels) or text (default: chat)",
    )
    add_data_flags(plan)
    plan.add_argument(
        "--purpose",
        choices=["domain", "chat", "prototype", "production", "alignment"],
        default="domain",
        help="what the fine-tune is for (default: domain)",
    )
    plan.add_argument(
        "--method",
        choices=["full", "lora", "qlora"],
        help="plan for this method instead of choosing one; with several GPUs a full "
        "fine-tune too big for one is sharded with FSDP",
    )
    plan.add_argument("--preset", metavar="FILE", help="start from this configuration")
    add_overrides(plan)
    plan.add_argument(
        "--save-preset", metavar="FILE", help="write the recommended configuration as a preset"
    )
    plan.add_argument(
        "--force", action="store_true", help="replace the --save-preset file if it exists"
    )
    plan.add_argument(
        "--which-gpu",
        action="store_true",
        help="for each method, the smallest cards in the table on which it fits",
    )
    add_target(plan)
    plan.add_argument(
        "--nodes",
        type=int,
        metavar="M",
        help="machines the plan may use, each with the --gpus GPUs (default: 1); a run too "
        "big for one is sharded with FSDP over the fewest that hold it, and --save-preset "
        "prints the command for every machine",
    )
    add_json(plan)

    data = commands.add_parser(
        "data",
        help="check a dataset before training on it",
        description="Detect a dataset's layout (with the evidence), report every problem with "
        "its location, and with --model show token statistics and one example rendered "
        "through the model's chat template, the loss-carrying part marked. Exit code 0 if "
        "the dataset is usable, 2 if not.",
    )
    data.add_argument(
        "path",
        metavar="PATH",
        help="a .json/.jsonl/.csv/.tsv/.parquet/.txt file or a folder of them",
    )
    add_data_flags(data)
    data.add_argument(
        "--model",
        metavar="MODEL",
        help="tokenizer and chat template to use (folder, .gguf, built-in name or a cached Hub id)",
    )
    data.add_argument(
        "--max-length",
        type=int,
        default=1024,
        metavar="N",
        help="tokens per example for the truncation share (default: 1024)",
    )
    data.add_argument(
        "--train-on",
        # data.train_on's values, written out: the parser must not import the
        # configuration (pydantic) for --help; a test checks they agree.
        choices=["assistant", "last_assistant", "all"],
        default="assistant",
        help="chat data: the tokens that carry the loss, as data.train_on (default: every "
        "assistant turn; last_assistant: the final answer; all: every token)",
    )
    data.add_argument(
        "--example",
        type=int,
        default=0,
        metavar="N",
        help="which valid example to preview, from 0 (default: 0)",
    )
    data.add_argument(
        "--val-size",
        type=float,
        default=0.0,
        metavar="F",
        help="share held out for validation, e.g. 0.1 (split by --seed)",
    )
    data.add_argument("--seed", type=int, default=42, help="seed of the split (default: 42)")
    data.add_argument(
        "--val-path", metavar="FILE", help="a separate validation file, checked the same way"
    )
    add_json(data)

    runs = commands.add_parser(
        "runs",
        help="list runs and their checkpoints",
        description="Runs under the runs root with state, progress, last loss, age and size; "
        "with a name, that run's checkpoints (step, loss, time, size, resumable or not).",
    )
    runs.add_argument("name", nargs="?", metavar="RUN", help="show this run's checkpoints")
    add_runs_root(runs)
    add_json(runs)

    for name, text in (
        ("attach", "follow a running training again"),
        ("stop", "save a resumable checkpoint and stop a training"),
    ):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("name", metavar="RUN", help="run name or folder")
        add_runs_root(command)
        if name == "stop":
            command.add_argument(
                "--no-wait",
                action="store_true",
                help="return at once instead of waiting for the checkpoint",
            )

    resume = commands.add_parser(
        "resume",
        help="continue a stopped or failed run from a checkpoint",
        description="Continue from the newest complete checkpoint (or --checkpoint STEP) with the "
        "same data order and schedule. Changed settings are shown as a diff and refused unless "
        "--allow-changes, and only for keys that can safely change.",
    )
    resume.add_argument("name", metavar="RUN", help="run name or folder")
    add_runs_root(resume)
    resume.add_argument("--checkpoint", type=int, metavar="STEP", help="resume from this step")
    add_overrides(resume)
    resume.add_argument(
        "--allow-changes",
        action="store_true",
        help="accept --set changes to keys that can safely change (epochs, "
        "max_steps, save/eval/logging intervals)",
    )
    resume.add_argument(
        "--apply-oom-advice",
        action="store_true",
        help="after an out-of-memory failure, apply the first advice",
    )
    resume.add_argument("--detach", action="store_true", help="return at once")
    add_machine_flags(resume)

    sample = commands.add_parser(
        "sample", help="answer prompts with the base and the fine-tuned model, side by side"
    )
    sample.add_argument("name", metavar="RUN", help="run name or folder")
    sample.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="TEXT",
        help="a prompt (repeatable; default: Who are you?), or a conversation that ends with "
        'a question, as JSON: \'[{"role": "user", "content": "Hi"}, {"role": "assistant", '
        '"content": "Hello!"}, {"role": "user", "content": "Who are you?"}]\'',
    )
    sample.add_argument("--max-new-tokens", type=int, default=64, metavar="N")
    add_runs_root(sample)
    add_json(sample)
    chat = commands.add_parser(
        "chat",
        help="talk to the fine-tuned model, the base, or both side by side",
        description="An interactive chat with the run's models, in its training chat template. "
        "Answers stream as they are generated, labelled with the model that wrote them, with "
        "the time to the first token and the tokens per second. Type /help for the commands: "
        "/base, /tuned, /both (side by side, one sampling seed), /system TEXT, /reset, "
        "/save FILE (the conversation as a JSONL row `ftwizard data` reads, to train on).",
    )
    chat.add_argument("name", metavar="RUN", help="run name or folder")
    chat.add_argument(
        "--system",
        metavar="TEXT",
        help="the system prompt (default: the one every training conversation began with, "
        "if they shared one; else the chat template's own)",
    )
    chat.add_argument(
        "--temperature",
        type=float,
        default=0.7,
        help="sampling temperature (default 0.7; 0 answers greedily, the same every time)",
    )
    chat.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    chat.add_argument("--max-new-tokens", type=int, default=256, metavar="N")
    add_runs_root(chat)
    merge = commands.add_parser(
        "merge", help="fold the adapter into the base: a full model transformers loads as is"
    )
    merge.add_argument("name", metavar="RUN", help="run name or folder")
    merge.add_argument("--output", metavar="DIR", help="where to write it (default: RUN/merged)")
    add_runs_root(merge)
    export = commands.add_parser(
        "export",
        help="write the fine-tuned model as one GGUF file (llama.cpp, Ollama, LM Studio)",
        description="--to gguf (default): merge the run's adapter (if any) and write the "
        "model, its tokenizer and the chat template it trained with as one GGUF file, in "
        "pure Python (no llama.cpp build). f16 keeps the weights as trained; q8_0 is about "
        "half the size and answers almost the same. q4_k_m (and q5_k_m, q6_k) use llama.cpp's "
        "llama-quantize when it is on PATH; without it, --ollama NAME and `ollama create -q "
        "q4_K_M` do the same. --ollama NAME writes a Modelfile beside the GGUF (the chat "
        "template as Ollama's Go template, the stop tokens, num_ctx = max_length). --to hub "
        "REPO_ID: upload the adapter (or --merged model) with its model card; --dry-run lists "
        "the files.",
    )
    export.add_argument("name", metavar="RUN", help="run name or folder")
    export.add_argument(
        "--to",
        nargs="+",
        default=["gguf"],
        metavar="gguf | hub REPO_ID",
        help="gguf: one file for llama.cpp / Ollama (default); hub REPO_ID: upload to the "
        "Hugging Face Hub with the model card (token: HF_TOKEN or `hf auth login`)",
    )
    export.add_argument(
        "--merged", action="store_true", help="with --to hub: the merged model, not the adapter"
    )
    export.add_argument(
        "--public",
        action="store_true",
        help="with --to hub: a public repository (the default is private: nothing is "
        "published that you did not choose to)",
    )
    export.add_argument("--private", action="store_true", help=argparse.SUPPRESS)  # the default
    export.add_argument(
        "--force",
        action="store_true",
        help="with --to hub: upload a run that did not finish or whose weights fail their "
        "check; with --to gguf: replace existing --out and Modelfile files",
    )
    export.add_argument(
        "--dry-run",
        dest="list_only",  # not the top-level --dry-run, which belongs to --preset
        action="store_true",
        help="with --to hub: list the files and sizes only",
    )
    export.add_argument(
        "--outtype",
        choices=["f16", "bf16", "q8_0", "q4_k_m", "q5_k_m", "q6_k"],
        default="f16",
        help="weight encoding: f16 (default), bf16, q8_0 (8-bit, about half the size); "
        "q4_k_m, q5_k_m, q6_k need llama.cpp's llama-quantize on PATH",
    )
    export.add_argument(
        "--ollama",
        metavar="NAME",
        help="also write an Ollama Modelfile beside the GGUF and print the "
        "`ollama create NAME` line (run it for you when ollama is installed)",
    )
    export.add_argument(
        "--out", metavar="FILE", help="where to write it (default: RUN/export/RUN-OUTTYPE.gguf)"
    )
    add_runs_root(export)
    add_json(export)

    presets = commands.add_parser(
        "presets",
        help="list, show and validate presets",
        description="Presets are run configurations saved as YAML. With no action, list them.",
    )
    preset_actions = presets.add_subparsers(dest="action", metavar="ACTION")
    listing = preset_actions.add_parser("list", help="list the built-in presets")
    add_json(listing)
    show = preset_actions.add_parser(
        "show", help="print a preset, every field with its description"
    )
    show.add_argument("name", metavar="NAME", help="preset name (demo-cpu) or path to a YAML file")
    add_overrides(show)
    add_json(show)
    validate = preset_actions.add_parser(
        "validate", help="check a preset file and report every problem at once"
    )
    validate.add_argument("name", metavar="FILE", help="path to a YAML file, or a preset name")
    add_overrides(validate)
    add_json(validate)

    models = commands.add_parser(
        "models",
        help="list and prepare built-in models",
        description="Built-in models ship inside Python packages and are converted once into a "
        "Hugging Face folder under the cache ($FTWIZARD_CACHE, $XDG_CACHE_HOME/ftwizard or "
        "~/.cache/ftwizard).",
    )
    model_actions = models.add_subparsers(dest="action", metavar="ACTION")
    model_list = model_actions.add_parser("list", help="list the built-in models")
    add_json(model_list)
    model_catalog = model_actions.add_parser(
        "catalog", help="list the catalog of popular models you can plan for offline"
    )
    add_json(model_catalog)
    model_show = model_actions.add_parser("show", help="facts of a model, without its weights")
    model_show.add_argument("name", metavar="MODEL", help="Hub id, folder, .gguf file or name")
    add_json(model_show)
    prepare = model_actions.add_parser(
        "prepare", help="convert a built-in model into a Hugging Face folder (once)"
    )
    prepare.add_argument("name", metavar="NAME", help="short name, e.g. smollm2-135m-instruct")
    prepare.add_argument("--force", action="store_true", help="convert again even if prepared")

    return parser

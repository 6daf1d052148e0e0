"""The choices the run configuration's fields take, and the dataset columns it names.

Apart from ``schema.py`` so that the schema stays one job (the sections and their
fields); the planner, the trainer and the views import these names from here.
"""

from __future__ import annotations

from typing import Literal

# The columns the dataset layouts read (core/data/formats.py): data.column_map's keys.
COLUMNS = (
    "instruction",
    "input",
    "output",
    "system",
    "history",
    "conversations",
    "messages",
    "tools",
    "prompt",
    "completion",
    "chosen",
    "rejected",
    "chosen_messages",
    "rejected_messages",
    "label",
    "text",
    "answer",
    "solution",
)

Objective = Literal["sft", "dpo", "orpo", "kto", "cpt", "reward", "grpo", "rloo"]
# Online RL: the model writes completions during training and a reward scores them.
ONLINE_RL: tuple[Objective, ...] = ("grpo", "rloo")
# Objectives whose beta is a preference strength, for which 0 means nothing.
PREFERENCE_BETA: tuple[Objective, ...] = ("dpo", "orpo", "kto")
Adapter = Literal["full", "lora", "qlora"]
Optimizer = Literal[
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_8bit",
    "adamw_bnb_8bit",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "adafactor",
    "sgd",
]
Scheduler = Literal[
    "linear",
    "cosine",
    "cosine_with_restarts",
    "cosine_with_min_lr",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "warmup_stable_decay",
]
AttnImplementation = Literal["eager", "sdpa", "flash_attention_2"]
ModelDtype = Literal["auto", "bfloat16", "float16", "float32"]
DataFormat = Literal[
    "auto",
    "alpaca",
    "sharegpt",
    "messages",
    "prompt_completion",
    "text",
    "preference",
    "kto",
    "prompts",
]
# The built-in reward functions of online RL (rl.reward_funcs); FILE.py:FUNCTION is the
# person's own.
BUILTIN_REWARDS = ("answer", "format", "length")
TrainOn = Literal["assistant", "last_assistant", "all"]
ReportTo = Literal["none", "tensorboard", "wandb", "mlflow", "trackio"]

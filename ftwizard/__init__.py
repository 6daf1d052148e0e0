"""ftwizard: plan and run LLM fine-tunes from a terminal, over plain SSH."""

import os

__version__ = "0.1.0"

# Every ftwizard process (the CLI, the wizard, the trainer and the helpers they start,
# which inherit it) sends huggingface_hub no usage telemetry, unless the person asked
# for it by setting the variable themselves.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

"""ftwizard: plan and run LLM fine-tunes from a terminal, over plain SSH."""

__version__ = "0.1.0"

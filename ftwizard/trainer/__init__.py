"""The only package that imports torch, transformers, peft, trl and bitsandbytes.

Its modules run in their own processes (``python -m ftwizard.trainer.<module>``),
started by the CLI or the TUI, and report through files and their output.
"""

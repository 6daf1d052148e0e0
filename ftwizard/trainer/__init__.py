"""The only package that imports torch, transformers, peft, trl and bitsandbytes.

Its modules here are entry points, each run in its own process (``python -m
ftwizard.trainer.<module>``) by the CLI or the TUI, reporting through the run folder or
one JSON line: ``run`` (the detached trainer), ``node`` (one machine's torchrun),
``chat``, ``data_stats``, ``gguf_export``, ``outputs`` (sample, merge),
``prepare_model`` and ``cpu_speed``. What they are built from is in ``components/``.
"""

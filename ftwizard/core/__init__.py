"""The pure core: no textual, and no torch at import time; the CLI, the TUI, the views
and the trainer all build on it.

One package per concern, each saying in its ``__init__`` what it may import (checked by
``tests/test_layers.py``):

- ``config``: the run configuration, its YAML and ``--set`` layering, the presets.
- ``hardware``: the probe, NVML and its fake, the card table, the CPU's speed.
- ``models``: model facts, where a model comes from, the catalog, the built-in models.
- ``data``: datasets as people have them: reading, detection, validation.
- ``planning``: memory, fit, recommendation, several GPUs, time.
- ``runs``: the run folder, launch, checks, resume, watching, the model card.
- ``outputs``: sampling, chat, GGUF/Ollama extras, the Hub upload.

At the top: ``errors``, ``units``, ``paths``, ``network`` and ``lifetime`` (helpers that
import nothing else from ``core``), ``files`` (reading files we did not write, within
bounds; its refusals are ``errors``) and ``trainer_calls`` (asking the trainer package
for answers that need torch, one typed request and reply each; it reads ``models``
and ``data``).
"""

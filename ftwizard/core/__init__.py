"""The pure core: run configuration, hardware probe, planning, datasets, run folders.

Nothing here imports textual or torch at import time; the CLI, the TUI and the
trainer all build on these modules.
"""

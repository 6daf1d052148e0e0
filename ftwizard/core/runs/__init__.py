"""A run from launch to its end: the run folder (the only contract between the trainer
and the viewers), the checks before a launch, starting and stopping the detached
trainer, resuming, reading a run as it trains, and the model card it leaves.

May import: ``config``, ``data``, ``hardware``, ``models``, ``planning``,
``trainer_calls`` and the top-level helpers. Within ``core`` only ``outputs`` imports it.
"""

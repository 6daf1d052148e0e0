"""What a machine has and what a card can do: the probe (``probe``), NVML and its fake
for tests, the card table and the targets a plan is made for (``gpus``), and the CPU's
measured matmul speed.

May import: the top-level helpers, and ``trainer_calls`` (the CPU is measured by the
trainer package, which has torch).
"""

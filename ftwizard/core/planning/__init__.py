"""Deciding a run before it starts: the memory estimator, fitting a method to a card,
the recommendation, several GPUs, advice after running out of memory, the model list's
verdicts, the dataset facts the planner reads, the validation split, the precision on a
CPU, and the time a run takes (the throughput model and its advice).

May import: ``config``, ``data`` (a report it reads), ``hardware``, ``models`` and the
top-level helpers. Never ``runs`` or ``outputs``: a plan is made before there is a run.
"""

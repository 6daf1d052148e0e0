"""Did it get better, and what did it forget: answers scored against references, the
lm-evaluation-harness's tasks before and after, people and a model judging A against B.

May import ``config``, ``data``, ``models``, ``runs``, ``trainer_calls`` and the
top-level helpers. Nothing in ``core`` imports it but ``outputs``.
"""

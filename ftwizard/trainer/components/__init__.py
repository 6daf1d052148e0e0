"""The pieces the trainer package's entry points are built from: loading the model and
tokenizer, the data and its loss masks, the chat template's rendering, the trl trainer
and its callbacks, the ranks of a distributed run, and the one-line JSON reply.

Nothing here runs on its own (``python -m`` starts the modules one level up), and
nothing here imports them.
"""

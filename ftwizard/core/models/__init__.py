"""Models without their weights: their facts (``facts``), where a name leads (a folder,
a .gguf file, the HF cache, the catalog: ``source``), the offline catalog and the
built-in models that ship inside a package.

May import: the top-level helpers.
"""

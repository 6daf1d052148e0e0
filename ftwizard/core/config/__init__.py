"""The run configuration: its typed fields (``schema``), reading and writing it as YAML
with ``--set`` layered on top (``yaml_io``), and the built-in presets.

May import: the top-level helpers of ``core`` (errors, units, paths, network, lifetime,
files).
"""

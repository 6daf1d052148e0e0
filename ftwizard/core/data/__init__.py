"""Datasets as people have them: reading, format detection, validation, normalisation."""

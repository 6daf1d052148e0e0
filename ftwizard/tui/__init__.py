"""The wizard (Textual): a thin view over the core; it never imports torch."""

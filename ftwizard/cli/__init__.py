"""The command line and its Rich headless views."""

"""Rich renderables shared by the headless views (``ftwizard.cli``) and the TUI.

Pure presentation of what the core computed: no Textual, no computing. The same
dataset report or checkpoint row reads the same in a terminal log and in the wizard.
"""

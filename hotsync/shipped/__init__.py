"""The shipped non-Python folders (grammar, templates, events), mapped here by setup.cfg."""

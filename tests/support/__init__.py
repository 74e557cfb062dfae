"""The tests' one toolbox: run the CLI (``runner``), build hosts and pairs of hosts (``hosts``,
``pairs``, ``namespaces``, ``databases``), fingerprint trees (``trees``) and the shared secrets
(``passwords``). ``tests/conftest.py`` registers the modules that define fixtures as pytest plugins;
test modules import plain functions and constants from here, never fixtures."""

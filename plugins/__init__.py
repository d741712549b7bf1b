"""Builtin plugins of harness, installed as ``harness_plugins``.

Each module is a plugin with exactly the shape a third-party ``harness-<thing>`` package has; they
enter through the ``harness`` entry-point group in harness's own pyproject, never by import from
the core.
"""

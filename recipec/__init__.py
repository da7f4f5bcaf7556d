"""recipec: compile a tuned proxy training recipe into a target-size recipe.

The data path is one line::

    load (YAML with source locations) -> Recipe -> resolve(rule sets, size) -> Resolved
        -> {lint, render, verify}

Nothing here imports torch; only ``recipec.verify`` and ``recipec.torch`` do.
"""

__version__ = "0.1.0"

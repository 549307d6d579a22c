"""cnnlab's engine: hand-written ops, models, data sets, trainer, run store and CLI.

Nothing here imports the UI (`cnnlab_tui`), and nothing runs at import time.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"

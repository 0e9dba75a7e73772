"""The release of Parley this code is: reported by `/healthz`, `serverInfo` and the start-up log."""

__version__ = "0.1.0"

"""Errors about the user's data: each names the file or row and the setting that changes the outcome."""


class DataError(ValueError):
    """Bad or unusable input data. The message is meant for the user, not a traceback reader."""

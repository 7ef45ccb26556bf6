"""Errors an operator must read and act on (bad settings, unreachable services)."""


class OperatorError(Exception):
    """A problem an operator fixes; printed as one line by the CLI instead of a traceback."""

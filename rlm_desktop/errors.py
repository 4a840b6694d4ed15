"""The error hierarchy. Messages are written for the person using the app: say what went
wrong and what to do about it. Catch at the boundary (CLI prints, GUI shows a dialog)."""


class RlmDesktopError(Exception):
    """Base of every error the app raises on purpose."""


class ModelError(RlmDesktopError):
    """A model is unknown, missing, corrupt, or failed to load or install."""


class InstallError(ModelError):
    """Installing a model failed (network, checksum, disk space, bad file)."""


class LibraryError(RlmDesktopError):
    """The index could not be opened, scanned or read."""


class PatternError(LibraryError):
    """A grep pattern that does not compile, or that ran past its time limit."""


class SandboxError(RlmDesktopError):
    """The REPL worker crashed, was killed or broke the protocol."""


class BudgetExceeded(RlmDesktopError):
    """A run used up one of its budgets (iterations, sub-calls, depth, tokens, time)."""

    def __init__(self, budget: str, message: str = "") -> None:
        self.budget = budget
        super().__init__(message or f"the {budget} budget is used up")


class Cancelled(RlmDesktopError):
    """The user stopped the operation."""

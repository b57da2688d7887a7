"""The one error type the CLI turns into a single clear message and a non-zero exit."""


class StackdebError(Exception):
    """A failure the user can act on: what went wrong, and how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

"""Errors a user can cause or fix. Each message says what to do next."""


class BarkError(Exception):
    """Base of every error this project raises on purpose."""


class InputError(BarkError, ValueError):
    """Bad input from the user: text, options, a voice file or a name.

    `field`: the option it is about, as data ("text_temp"; "split.mode" for a split option of a
    generation), so that each front end names it its own way (a flag, a JSON key, a control)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NameTakenError(InputError):
    """A new voice's name is already in the voice library (and overwriting was not asked for)."""


class VoiceError(InputError):
    """A voice prompt that is missing, malformed or unusable."""


class ModelFileError(BarkError):
    """A model file that cannot be found, downloaded or read."""


class UnsafeCheckpointError(ModelFileError):
    """A checkpoint that asks to run code while loading; it is never loaded."""


class Cancelled(BarkError):
    """The generation was cancelled by the user."""

"""Errors a user can meet, each with a message fit to show them (and the fix, where there is one).

The CLI prints ``str(error)`` as its one line on stderr and exits with ``error.exit_code``; the
desktop app shows the same text. Nothing here imports torch.
"""


class SeesayError(Exception):
    """Base class: the message is for the user, not for a developer."""

    exit_code = 1


class ModelError(SeesayError):
    """The model is missing, corrupt, of the wrong type, or does not fit."""

    exit_code = 3


class ModelNotFound(ModelError):
    pass


class ModelCorrupt(ModelError):
    pass


class WrongModelType(ModelError):
    pass


class ModelDoesNotFit(ModelError):
    pass


class InputError(SeesayError):
    """An image or audio clip the model cannot take."""

    exit_code = 4


class EngineBusy(SeesayError):
    """A second answer was asked for while one is still streaming."""


class ModelIncomplete(ModelCorrupt):
    """A file the model needs (a shard, the tokenizer, the chat template...) is missing."""


class UnsupportedCheckpoint(ModelError):
    """The weights are in a format Seesay does not load (PyTorch .bin/.pt pickles)."""

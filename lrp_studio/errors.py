"""Error types that LRP Studio reports to users as one clear message."""


class LRPStudioError(Exception):
    """Base class of all errors LRP Studio reports to users (one clear message)."""


class ModelFileError(LRPStudioError):
    """A model file is missing, unreadable, malformed or inconsistent."""


class DataError(LRPStudioError):
    """A data set or input array is missing, unreadable or invalid."""


class ParameterError(LRPStudioError, ValueError):
    """A method, rule, layer or training parameter is out of its allowed range."""


class TrainingDiverged(LRPStudioError):
    """Training produced a non-finite or exploding loss; the last good weights were kept."""

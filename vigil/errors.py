"""Typed exceptions whose messages tell the user what to do."""


class VigilError(Exception):
    """Base class of every error Vigil raises on purpose."""


class ConfigError(VigilError):
    """Invalid or inconsistent configuration."""


class SourceError(VigilError):
    """A video source could not be opened or read."""


class SourceUnavailable(SourceError):
    """A source is unreachable right now; retrying may help (network, unplugged camera)."""


class SourceUnsupported(SourceError):
    """A source can never be read (missing file, corrupt data, unknown codec); do not retry."""


class ModelError(VigilError):
    """A model file is missing, corrupt or incompatible."""


class StoreError(VigilError):
    """The identity store cannot be used (unknown URL, bad schema, missing visitor)."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached right now; check the URL, network and credentials."""


class InputError(VigilError):
    """Batch inputs are missing or malformed (paths, video lists)."""

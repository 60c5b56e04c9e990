"""The one error type of study files."""


class ConfigError(ValueError):
    """A study file with an unknown key or a bad value."""

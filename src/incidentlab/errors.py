"""One exception hierarchy; every message names the next step."""

from __future__ import annotations


class IncidentLabError(Exception):
    """Base class: the CLI prints the message as one line and exits with `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message if hint is None else f"{message}; {hint}")


class UsageError(IncidentLabError):
    """The command line or its arguments are wrong."""


class SchemaMismatchError(IncidentLabError):
    """The database was written by a different schema version."""


class DatabaseNotFoundError(IncidentLabError):
    """The database file does not exist."""


class LoaderError(IncidentLabError):
    """A loader could not read a file as a whole (individual bad records are quarantined instead)."""

    def __init__(self, path: str, message: str, *, hint: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}", hint=hint)


class NeedsTimezoneError(LoaderError):
    """The file holds naive local times and no --tz was given, so ingest refuses to guess."""

    def __init__(self, path: str, example: str) -> None:
        super().__init__(
            path,
            f"timestamps have no zone (e.g. {example!r})",
            hint="re-run ingest with --tz ZONE (the zone of the machine that wrote it)",
        )


class UnknownLoaderError(UsageError):
    """A loader name that is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"no loader named {name!r}",
            hint=f"choose one of: {', '.join(known)} (see `incidentlab loaders`)",
        )


class NotADatabaseError(UsageError):
    """--db names something that is not (and must not become) an incidentlab database."""


class DatabaseLockedError(IncidentLabError):
    """Another process holds the database's write lock longer than we were willing to wait."""

    exit_code = 1


class IngestStopped(IncidentLabError):
    """The run stopped early (Ctrl-C, disk full); `summary` says what was and was not loaded."""

    def __init__(self, message: str, summary: object, *, exit_code: int, hint: str | None = None):
        self.summary = summary
        self.exit_code = exit_code
        super().__init__(message, hint=hint)

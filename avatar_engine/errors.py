"""The project's expected failures. The CLI prints `str(error)` (one line) and exits with `error.exit_code`."""

from __future__ import annotations


class AvatarError(Exception):
    """Base of every failure the user can act on; anything else is a bug and keeps its traceback."""

    exit_code = 1


class InputError(AvatarError):
    """Bad user input: a missing or unreadable file, a photo with no face, an option value out of range."""

    exit_code = 2


class ModelError(AvatarError):
    """A model file is unknown, missing, corrupt (wrong sha256) or could not be fetched."""

    exit_code = 3


class BackendError(AvatarError):
    """A backend (GL context, window, camera, inference runtime) is unavailable or failed."""

    exit_code = 4


class OutputError(AvatarError):
    """A result could not be written where it was asked for: the disk filled up, the video encoder died. Nothing
    partly written is left under the asked-for name."""

    exit_code = 1

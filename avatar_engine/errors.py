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


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line, or its type's name when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def require_modules(modules: tuple[str, ...], needed_for: str, install: str = "pip install 'avatar-engine[infer]'"
                    ) -> None:
    """BackendError naming the first of `modules` that does not import, and how to install it: without them the
    command ran on and ended in a traceback."""
    for module in modules:
        try:
            __import__(module)
        except ImportError as exc:
            raise BackendError(f"{needed_for} needs {module} ({exc}); {install}") from None

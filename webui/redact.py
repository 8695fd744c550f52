"""Messages for remote users: the server's folders are named, never shown.

    redact = Redactor({models_dir: "the models folder", library.root: "your voice library"})
    redact("text_2.pt is missing in /srv/bark/models/suno/bark")  # -> "... in the models folder/suno/bark"

A known folder becomes its label. Any other absolute path of this machine (it exists, or the folder it
would be in does, or it is under the temporary or the home folder) becomes its last part ("…/clip.wav"),
so a message still says which file it is about without telling where the server keeps it; a route such
as "/v1/audio/voices" stays. The command line shows whole paths: it runs on the user's own machine.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from core.engine import Engine

# An absolute path: POSIX (/a/b), home (~/a), or Windows (C:\a, C:/a, \\server\share), up to a space,
# a quote or a bracket. Messages quote names with ' or ", so a path with spaces still ends at its quote.
_ABSOLUTE = re.compile(r"""(?:(?<![\w.:/])~?/|\b[A-Za-z]:[\\/]|\\\\)[^\s'"()\[\]{}<>,;]*""")
_SEPARATORS = re.compile(r"[\\/]+")


class Redactor:
    """Replaces folders of this machine in messages: known ones by their label, others by '…/name'."""

    def __init__(self, labels: Mapping[str | os.PathLike, str]):
        known = {str(path): label for path, label in labels.items() if path}
        spelled: dict[str, str] = {}
        for path, label in known.items():
            for form in {os.path.abspath(path), os.path.realpath(path)}:  # a relative "prompts" is a word too
                spelled[form.rstrip("/\\")] = label
        # longest first, so that a folder inside another is named by its own label
        self._known = sorted(spelled.items(), key=lambda item: -len(item[0]))

    def __call__(self, message: str) -> str:
        for path, label in self._known:
            if path:
                message = re.sub(rf"{re.escape(path)}(?=[\\/]|\b|$)", label, message)
        return _ABSOLUTE.sub(_last_part, message)


def _last_part(match: re.Match[str]) -> str:
    text = match.group(0)
    path = os.path.expanduser(text.rstrip(".:"))
    parts = [p for p in _SEPARATORS.split(path) if p]
    parent = os.path.dirname(path.rstrip("/\\"))
    here = os.path.exists(path) or (len(parts) > 1 and os.path.isdir(parent) and parent not in ("/", "\\"))
    private = (tempfile.gettempdir(), str(Path.home()))  # whatever is in there, its place is not told
    here = here or any(path.startswith(folder + os.sep) for folder in private)
    return text.replace(text.rstrip(".:"), f"…/{parts[-1]}") if here and parts else text


def folder_redactor(
    engine: Engine, output_dir: Path | None = None, projects_dir: Path | None = None
) -> Callable[[str], str]:
    """A redactor for the engine's folders as they are when a message is made (settings may change):
    the voice library, the models folder, the outputs folder, the projects folder and the Hugging Face cache."""
    from huggingface_hub import constants  # where downloads go (HF_HOME / HF_HUB_CACHE)

    def redact(message: str) -> str:
        labels = {
            engine.library.root.expanduser(): "your voice library",
            constants.HF_HUB_CACHE: "the Hugging Face cache",
        }
        if engine.locator.models_dir is not None:
            labels[Path(engine.locator.models_dir).expanduser()] = "the models folder"
        if output_dir is not None:
            labels[Path(output_dir).expanduser()] = "the outputs folder"
        if projects_dir is not None:
            labels[Path(projects_dir).expanduser()] = "the projects folder"
        return Redactor(labels)(message)

    return redact

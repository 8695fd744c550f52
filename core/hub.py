"""Where model files come from. The only module that knows.

A file is named by its Hugging Face repo and path, e.g. ("suno/bark", "text_2.pt"). It is looked
for, in order:
1. the models directory: `MODELS_DIR/<repo>/<path>` (or `MODELS_DIR/<path>` for a flat folder), where
   MODELS_DIR is --models-dir, else BARK_MODELS_DIR, else `./models` when that folder exists;
2. the Hugging Face cache (`HF_HOME` / `HF_HUB_CACHE`, or `cache_dir`);
3. a download from the hub into that cache (resumed if interrupted; progress on the console and to
   the engine's LoadingWatch, for the UI and /health).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
from huggingface_hub import errors as hub_errors
from huggingface_hub.utils import tqdm as hf_tqdm

from .activity import LoadingWatch
from .errors import ModelFileError

MODELS_DIR_ENV = "BARK_MODELS_DIR"
LOCAL_MODELS_DIR = Path("models")  # read without being named, when it exists


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str

    def __str__(self) -> str:
        return f"{self.repo_id}/{self.filename}"


def default_models_dir() -> Path | None:
    """The models directory when none is given: BARK_MODELS_DIR (read when asked, never at import), else
    ./models if it is a folder, else None (the Hugging Face cache only)."""
    value = os.environ.get(MODELS_DIR_ENV)
    if value:
        return Path(value).expanduser()
    return LOCAL_MODELS_DIR if LOCAL_MODELS_DIR.is_dir() else None


class ModelLocator:
    """Finds (and if allowed downloads) model files; see the module docstring for the order."""

    def __init__(
        self,
        models_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        allow_download: bool = True,
        watch: LoadingWatch | None = None,
    ):
        """watch: where downloads report their progress (core.activity), besides the console's bar."""
        self.models_dir = Path(models_dir).expanduser() if models_dir else None
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.allow_download = allow_download
        self.watch = watch

    def local_path(self, file: HubFile) -> Path | None:
        """The file if it is already on this machine (models dir or HF cache), else None."""
        if self.models_dir is not None:
            for candidate in (
                self.models_dir / file.repo_id / file.filename,
                self.models_dir / file.filename,
            ):
                if candidate.is_file():
                    return candidate
        cached = huggingface_hub.try_to_load_from_cache(file.repo_id, file.filename, cache_dir=self.cache_dir)
        if isinstance(cached, str) and os.path.isfile(cached):
            return Path(cached)
        return None

    def path(self, file: HubFile) -> Path:
        """Local path of `file`, downloading it if needed and allowed; ModelFileError otherwise."""
        found = self.local_path(file)
        if found is not None:
            return found
        if not self.allow_download:
            raise ModelFileError(self._missing_message(file, "downloads are off", "allow downloads"))
        try:
            return Path(
                huggingface_hub.hf_hub_download(
                    file.repo_id, file.filename, cache_dir=self.cache_dir, tqdm_class=self._progress_bar(file)
                )
            )
        except hub_errors.LocalEntryNotFoundError as e:  # a subclass of EntryNotFoundError: the hub was not reached
            reason = "the Hugging Face hub could not be reached (no network?)"
            raise ModelFileError(self._missing_message(file, reason, "connect to the internet and try again")) from e
        except (hub_errors.EntryNotFoundError, hub_errors.RepositoryNotFoundError) as e:
            raise ModelFileError(self._missing_message(file, "the hub has no such file")) from e
        except (hub_errors.HfHubHTTPError, OSError) as e:
            reason = f"could not download it: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            raise ModelFileError(self._missing_message(file, reason, "try again later")) from e

    def _progress_bar(self, file: HubFile) -> type | None:
        """huggingface_hub's console bar, also reporting to the watch (None: its own bar only)."""
        watch = self.watch
        if watch is None:
            return None

        class Reporting(hf_tqdm):
            """Counts the bytes itself: a bar switched off (HF_HUB_DISABLE_PROGRESS_BARS) counts nothing."""

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.fetched = int(kwargs.get("initial") or 0)  # a resumed download starts there

            def update(self, n: float | None = 1) -> bool | None:
                shown = super().update(n)
                self.fetched += int(n or 0)
                watch.fetched(str(file), self.fetched, int(self.total) if self.total else None)
                return shown

        return Reporting

    def first_available(self, files: Sequence[HubFile]) -> Path:
        """The first of several alternative files (e.g. safetensors, then .bin) that can be had."""
        for file in files:
            found = self.local_path(file)
            if found is not None:
                return found
        errors = []
        for file in files:
            try:
                return self.path(file)
            except ModelFileError as e:
                errors.append(e)
        raise errors[0]

    def directory(self, files: Sequence[HubFile]) -> Path:
        """One folder holding all `files` of a repo (for from_pretrained-style loaders)."""
        paths = [self.path(f) for f in files]
        folder = paths[0].parent
        for f, p in zip(files, paths, strict=True):
            if p.parent != folder:
                raise ModelFileError(
                    f"{f} was found at {p}, not beside {paths[0]}; keep the files of {f.repo_id} in one folder"
                )
        return folder

    def _missing_message(self, file: HubFile, reason: str, remedy: str = "") -> str:
        """What is missing, why, and a place to put it that is read: the models directory, else ./models."""
        where = (self.models_dir or LOCAL_MODELS_DIR) / file.repo_id / file.filename
        read_as = "" if self.models_dir is not None else f" (./{LOCAL_MODELS_DIR} is read when it exists)"
        return (
            f"Model file '{file.filename}' of the Hugging Face repo '{file.repo_id}' is not on this machine and "
            f"{reason}. {remedy.capitalize() + ', or d' if remedy else 'D'}ownload it yourself "
            f"(https://huggingface.co/{file.repo_id}) and put it at {where}{read_as}."
        )

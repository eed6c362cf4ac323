"""Fetching open_clip weights once into the Hugging Face cache, for users who are online.

Owns the one network step of the encoders: a pretrained tag (``VA_CLIP_PRETRAINED=openai``)
names a file in a Hugging Face repo (open_clip's ``hf_hub`` entry); when that file is not in the
local cache and the hub can be reached, it is downloaded by ``huggingface_hub`` into the cache
(where :func:`va_app.encoders.clip.resolve_clip_weights` finds it from then on, offline too),
with its size announced and progress reported, then checked against the hub's checksum.

- **Offline fails fast**: ``HF_HUB_OFFLINE=1`` is honoured without any request; otherwise one
  metadata request with a short timeout decides (no network: well under 2 s), never the
  library's long retries.
- **Resumable**: a connection that drops mid-file is resumed where it stopped (huggingface_hub
  re-requests the rest with an HTTP ``Range``). A download interrupted by stopping the process
  starts again on the next run: huggingface_hub 2.x keeps no partial files between runs.
- **Verified**: the downloaded file's SHA-256 (git-LFS files) or git blob hash must equal the
  ETag the hub sent; a mismatch deletes the file and is refused.

``HF_ENDPOINT`` points at a mirror (the tests run a local one); ``HF_TOKEN`` works as usual.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tqdm
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)

from va_app.errors import VAError, WeightsNotFoundError

#: Seconds the metadata request may take before the hub counts as unreachable. Long enough for
#: a slow TLS handshake, short enough that an offline start falls back at once (< 2 s).
PROBE_TIMEOUT_S = 1.5
#: Progress is reported at most this often (bytes): an st.progress update per 1 MB chunk of a
#: 600 MB file would be 600 browser messages.
REPORT_EVERY_BYTES = 4 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")

#: ``progress(done_bytes, total_bytes, note)``; the first call (0 bytes) carries the note
#: "downloading … (605.2 MB) …", later calls an empty note.
ByteProgress = Callable[[int, int, str], None]


class WeightsDownloadError(WeightsNotFoundError):
    """The weights could not be fetched (offline, unreachable, refused, corrupt)."""


@dataclass(frozen=True)
class RemoteWeights:
    """One weights file on the hub, as its metadata request described it."""

    repo: str
    filename: str
    url: str
    size: int | None
    etag: str  # the content hash the hub promises: SHA-256 for LFS files, git blob SHA-1 else
    commit: str

    @property
    def size_text(self) -> str:
        return human_size(self.size) if self.size is not None else "size unknown"


def hub_offline() -> bool:
    """Whether huggingface_hub is in offline mode (``HF_HUB_OFFLINE=1`` when it was imported)."""
    return bool(hf_constants.is_offline_mode())


def hub_endpoint() -> str:
    """The hub (or mirror) to fetch from: ``HF_ENDPOINT`` now, else huggingface_hub's default."""
    return (os.environ.get("HF_ENDPOINT") or hf_constants.ENDPOINT).rstrip("/")


def locate_remote_weights(
    repo: str,
    filenames: tuple[str, ...],
    *,
    endpoint: str | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> RemoteWeights:
    """The first of ``filenames`` that ``repo`` has, from one metadata request per name.

    Raises :class:`WeightsDownloadError` at once when offline, the hub is unreachable, or the
    repo has none of the files.
    """
    endpoint = endpoint or hub_endpoint()
    if hub_offline():
        raise WeightsDownloadError("offline mode is on (HF_HUB_OFFLINE=1)")
    for name in filenames:
        url = hf_hub_url(repo, name, endpoint=endpoint)
        try:
            meta = get_hf_file_metadata(url, timeout=timeout, endpoint=endpoint)
        except EntryNotFoundError:
            continue
        except (RepositoryNotFoundError, HfHubHTTPError) as exc:
            raise WeightsDownloadError(
                f"{endpoint} refused {repo}/{name}: {_first_line(exc)}"
            ) from exc
        except OfflineModeIsEnabled as exc:
            raise WeightsDownloadError("offline mode is on (HF_HUB_OFFLINE=1)") from exc
        except Exception as exc:
            raise WeightsDownloadError(
                f"{endpoint} cannot be reached ({_first_line(exc)})"
            ) from exc
        return RemoteWeights(
            repo, name, url, meta.size, _clean_etag(meta.etag), meta.commit_hash or ""
        )
    raise WeightsDownloadError(f"{endpoint}/{repo} has none of {', '.join(filenames)}")


def download_weights(
    remote: RemoteWeights,
    *,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    progress: ByteProgress | None = None,
) -> Path:
    """Download ``remote`` into the Hugging Face cache, verify it, and return its path."""
    total = remote.size or 0
    if progress is not None:
        progress(
            0,
            total,
            f"downloading {remote.repo}/{remote.filename} ({remote.size_text}) "
            f"into the Hugging Face cache",
        )
    try:
        # No revision pin: the default ("main") is what writes refs/main, which the offline
        # look-up (try_to_load_from_cache) reads on every later start.
        path = Path(
            hf_hub_download(
                remote.repo,
                remote.filename,
                cache_dir=cache_dir,
                endpoint=endpoint or hub_endpoint(),
                tqdm_class=_reporting_bar(progress, total),
            )
        )
    except VAError:
        raise
    except Exception as exc:
        raise WeightsDownloadError(
            f"downloading {remote.url} failed: {_first_line(exc)}; run again to retry"
        ) from exc
    verify_download(path, remote)
    return path


def verify_download(path: Path, remote: RemoteWeights) -> None:
    """Refuse (and delete) a downloaded file whose content hash is not the hub's ETag."""
    expected = remote.etag
    if _SHA256.fullmatch(expected):
        kind, actual = "SHA-256", _sha256(path)
    elif _GIT_SHA1.fullmatch(expected):
        kind, actual = "git SHA-1", _git_blob_sha1(path)
    else:
        _discard(path)
        raise WeightsDownloadError(
            f"{remote.url} came without a checksum (ETag {expected!r}), so it cannot be verified "
            "and was not kept; point HF_ENDPOINT at the Hugging Face hub or a faithful mirror"
        )
    if actual != expected:
        _discard(path)
        raise WeightsDownloadError(
            f"the download of {remote.url} is corrupt: its {kind} is {actual}, the hub promised "
            f"{expected}. The file was deleted; run again to retry, and if it happens again the "
            "hub or mirror (HF_ENDPOINT) serves a damaged file"
        )


def human_size(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _reporting_bar(progress: ByteProgress | None, total: int) -> type[tqdm.tqdm]:
    """A tqdm class for huggingface_hub that draws nothing and forwards bytes to ``progress``
    (the CLI draws its own bar, the app an ``st.progress``)."""

    class ReportingBar(tqdm.tqdm):
        def __init__(self, *args, **kwargs) -> None:
            kwargs["disable"] = True  # a disabled tqdm counts nothing: we count ourselves
            super().__init__(*args, **kwargs)
            self.done = int(kwargs.get("initial") or 0)
            self.reported = self.done

        def update(self, n: float | None = 1) -> bool | None:
            self.done += int(n or 0)  # negative when a retry starts the file over
            due = abs(self.done - self.reported) >= REPORT_EVERY_BYTES or 0 < total <= self.done
            if progress is not None and due:
                self.reported = self.done
                progress(self.done, total, "")
            return None

    return ReportingBar


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _discard(path: Path) -> None:
    """Remove a refused download from the cache: the snapshot link and the blob it points to."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def _clean_etag(etag: str | None) -> str:
    return (etag or "").removeprefix("W/").strip('"').lower()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

"""Download one file safely: stream to a temporary file, check size and sha256, then move it into place.

A half-written checkpoint in the cache would fail later with a confusing unpickling error, so nothing is
ever written at `dest` until the whole file arrived and verified: bytes go to a temporary file in the same
folder and `os.replace` (atomic on one filesystem) moves it in. Every failure removes the temporary file
and raises one `WeightsError` line that names the URL or file and says what to do.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from slowfast_core.version import __version__
from slowfast_core.errors import WeightsError
from slowfast_core.progress import ProgressBar, format_bytes

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20  # 1 MiB: large enough for speed, small enough for a smooth progress bar


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Fetch `url` into `dest` and return `dest` as a Path.

    `sha256` (hex), when given, must match the downloaded bytes. `timeout` bounds the connection and each
    read in seconds. On any failure nothing is left at `dest` or in its folder and WeightsError is raised.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(_os_error_message(exc, dest)) from exc
    request = urllib.request.Request(url, headers={"User-Agent": f"slowfast-live/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) URLs from the registry)
    except urllib.error.HTTPError as exc:
        raise WeightsError(_http_error_message(exc.code, exc.reason, url, dest)) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise WeightsError(_no_network_message(reason, url, dest)) from exc

    tmp_path: Path | None = None
    try:
        with response:
            expected = _content_length(response)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            tmp_path = Path(tmp_name)
            with _open_temp(fd) as out:
                received, digest = _stream(response, out, expected, url, dest.name, progress)
        if expected is not None and received != expected:
            raise WeightsError(
                f"download of {url} was cut short: got {received} of {expected} bytes; "
                f"run the download again (nothing was saved at {dest})"
            )
        if sha256 is not None and digest != sha256.lower():
            raise WeightsError(
                f"checksum mismatch for {dest.name} from {url}: expected sha256 {sha256.lower()}, got {digest}; "
                "the file is corrupt or changed on the server: run the download again (nothing was saved)"
            )
        os.replace(tmp_path, dest)
        tmp_path = None
    except WeightsError:
        raise
    except OSError as exc:
        raise WeightsError(_os_error_message(exc, dest, url)) from exc
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
    logger.info("downloaded %s (%s) to %s", url, format_bytes(dest.stat().st_size), dest)
    return dest


def _open_temp(fd: int) -> BinaryIO:
    """The temporary file's descriptor as a binary file object (a seam: one place where bytes hit disk)."""
    return os.fdopen(fd, "wb")


def _stream(
    response: http.client.HTTPResponse,
    out: BinaryIO,
    expected: int | None,
    url: str,
    label: str,
    progress: bool,
) -> tuple[int, str]:
    """Copy the body to `out` chunk by chunk; returns (bytes received, sha256 hex of them)."""
    digest = hashlib.sha256()
    received = 0
    with ProgressBar(total=expected, desc=label, unit="B", enabled=progress) as bar:
        while True:
            try:
                chunk = response.read(CHUNK_SIZE)
            except http.client.IncompleteRead as exc:
                received += len(exc.partial)
                raise WeightsError(
                    f"download of {url} was cut short: got {received} of {expected} bytes; "
                    "run the download again (nothing was saved)"
                ) from exc
            except (socket.timeout, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                raise WeightsError(
                    f"download of {url} broke off after {received} bytes ({_reason_text(exc)}); "
                    "check the network and run the download again (nothing was saved)"
                ) from exc
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return received, digest.hexdigest()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """The announced body size, or None when the server did not say (or said something unusable)."""
    value = response.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _reason_text(reason: object) -> str:
    """A failure reason squeezed onto one line."""
    text = str(reason).strip() or type(reason).__name__
    return " ".join(text.split())


def _no_network_message(reason: object, url: str, dest: Path) -> str:
    """No connection at all: explain the offline route (fetch elsewhere, copy into the cache)."""
    return (
        f"no network ({_reason_text(reason)}) fetching {url}: download {dest.name} on a machine with internet "
        f"and copy it to {dest}, or pass --weights /path/to/file"
    )


def _http_error_message(code: int, reason: object, url: str, dest: Path) -> str:
    """The server answered with an error status."""
    if code == 404:
        return (
            f"HTTP 404 Not Found for {url}: the file is no longer at that address; get {dest.name} elsewhere "
            f"and copy it to {dest}, or pass --weights /path/to/file"
        )
    return (
        f"HTTP {code} {_reason_text(reason)} for {url}: try again later, or download {dest.name} by hand "
        f"and copy it to {dest}"
    )


def _os_error_message(exc: OSError, dest: Path, url: str | None = None) -> str:
    """A local filesystem failure while saving (disk full, no permission, ...)."""
    source = f" from {url}" if url else ""
    if exc.errno == errno.ENOSPC:
        return (
            f"disk full while saving {dest.name}{source} into {dest.parent}: free some space, or set TORCH_HOME "
            "to a folder on a larger disk"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write {dest}{source} ({_reason_text(exc.strerror or exc)}): set TORCH_HOME to a writable "
            "folder"
        )
    return f"could not save {dest}{source}: {_reason_text(exc)}"

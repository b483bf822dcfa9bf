"""Fetching dataset files from their public mirrors, checked against published md5 sums.

Only the standard library (urllib, hashlib). A file is written as ``<name>.part`` while it
downloads and renamed into place only once its md5 matches, so an interrupted or tampered
download never leaves a file that looks complete.
"""

import hashlib
import os
import urllib.error
import urllib.request

__all__ = ["DownloadError", "download_file", "fetch_files", "md5sum"]

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A dataset file could not be fetched (no network, no mirror had it, or its md5 differed)."""


def md5sum(path):
    """Hex md5 digest of the file at ``path``."""
    h = hashlib.md5(usedforsecurity=False)  # a checksum, not a security measure
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(url, path, md5, timeout=60):
    """Download ``url`` to ``path`` and check its md5; raise :class:`DownloadError` otherwise.

    Works for ``http(s)://`` and ``file://`` URLs. The partial download is removed on failure.
    """
    part = path + ".part"
    h = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(part, "wb") as f:
            for chunk in iter(lambda: r.read(_CHUNK), b""):
                h.update(chunk)
                f.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as e:
        _remove(part)
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"{url}: {reason}") from None
    got = h.hexdigest()
    if md5 is not None and got != md5:
        _remove(part)
        raise DownloadError(f"{url}: md5 {got} does not match the published {md5} (corrupt or "
                            f"tampered download)")
    os.replace(part, path)
    return path


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def fetch_files(root, resources, mirrors, dataset):
    """Make sure every ``(filename, md5)`` of ``resources`` is in ``root``, downloading as needed.

    A file already present is kept if its md5 matches and downloaded again otherwise. Each file
    is tried on every mirror in turn (``mirror + filename``).

    Raises
    ------
    DownloadError
        Naming the files that could not be fetched, what each mirror answered, and where to put
        the files by hand.
    """
    os.makedirs(root, exist_ok=True)
    failed = []
    for name, md5 in resources:
        path = os.path.join(root, name)
        if os.path.exists(path) and (md5 is None or md5sum(path) == md5):
            continue
        errors = []
        for mirror in mirrors:
            try:
                download_file(mirror + name, path, md5)
                break
            except DownloadError as e:
                errors.append(str(e))
        else:
            failed.append((name, md5, errors))
    if failed:
        lines = "\n".join(f"  {name} (md5 {md5}): " + "; ".join(errs)
                          for name, md5, errs in failed)
        names = ", ".join(name for name, _, _ in failed)
        raise DownloadError(
            f"{dataset}: could not download {len(failed)} file(s):\n{lines}\nWithout network, "
            f"copy {names} from any mirror ({', '.join(mirrors)}) into {os.path.abspath(root)} "
            f"and call again without download=True."
        )

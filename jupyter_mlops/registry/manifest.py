"""``MANIFEST``: the sha256 of every file of a package, and the digest of the manifest itself.

The format is ``sha256sum``'s (``<hex>  <path>`` per line, sorted by path), so a package can be
checked with coreutils too. The registry keeps the manifest's digest; a package whose manifest
or any file changed no longer matches it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..exceptions import PackageVerificationError
from ..tracking.artifacts import sha256_file

MANIFEST = "MANIFEST"


def package_files(root: Path) -> list[str]:
    """Every regular file under ``root`` except the manifest, as sorted POSIX paths.

    A symbolic link is refused: it could make a verified package read files outside itself."""
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise PackageVerificationError(f"{root}: {rel} is a symbolic link; packages hold regular files only", rel)
        if path.is_file() and rel != MANIFEST:
            files.append(rel)
    return files


def write_manifest(root: Path) -> str:
    """Write ``root/MANIFEST`` over the files now in ``root``; returns the manifest's digest."""
    lines = [f"{sha256_file(root / rel)}  {rel}\n" for rel in package_files(root)]
    data = "".join(lines).encode()
    (root / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def manifest_digest(root: Path) -> str:
    path = root / MANIFEST
    if not path.is_file():
        raise PackageVerificationError(f"{root}: no {MANIFEST} file; this is not a jupyter_mlops package", MANIFEST)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listed_digests(data: bytes) -> dict[str, str]:
    """``{path: sha256}`` as the manifest ``data`` lists them; a malformed line is refused by number."""
    listed: dict[str, str] = {}
    for number, line in enumerate(data.decode(errors="replace").splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            raise PackageVerificationError(f"line {number} is not '<sha256>  <path>'", MANIFEST)
        listed[rel] = digest
    return listed


def check_files(root: Path) -> list[tuple[str, str]]:
    """``(file, problem)`` for every file that is changed, missing or not listed; empty when intact."""
    try:
        listed = listed_digests((root / MANIFEST).read_bytes())
    except PackageVerificationError as exc:
        return [(MANIFEST, str(exc))]
    problems = []
    present = set(package_files(root))
    for rel, digest in listed.items():
        if rel not in present:
            problems.append((rel, "listed in MANIFEST but missing"))
        elif sha256_file(root / rel) != digest:
            problems.append((rel, "content differs from its sha256 in MANIFEST"))
    problems.extend((rel, "not listed in MANIFEST") for rel in sorted(present - set(listed)))
    return problems

"""Packing a package folder into a ``.zip`` and unpacking one without letting it write elsewhere.

A zip member named ``../x``, ``/etc/x``, ``C:\\x`` or stored as a symbolic link is refused before
anything is extracted (zip-slip), so a hostile archive cannot place files outside its folder.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..exceptions import PackageVerificationError

# Fixed timestamps make the same package always zip to the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)
MAX_UNPACKED_BYTES = 8 << 30


def make_zip(folder: Path, target: Path) -> Path:
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    tmp.replace(target)
    return target


def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why ``info`` must not be extracted, or None."""
    name = info.filename
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith(("/", "\\")):
        return "is an absolute path"
    if ".." in posix.parts or ".." in windows.parts:
        return "climbs out of the package with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


def extract(archive: Path, target: Path) -> Path:
    """Unpack ``archive`` into the empty folder ``target`` after checking every member name."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackageVerificationError(f"{archive}: not a readable zip file ({exc})", str(archive)) from exc
    with zf:
        members = zf.infolist()
        for info in members:
            why = unsafe_member(info)
            if why:
                raise PackageVerificationError(f"{archive}: member {info.filename!r} {why}; refusing to unpack it",
                                               info.filename)
        if sum(i.file_size for i in members) > MAX_UNPACKED_BYTES:
            raise PackageVerificationError(f"{archive}: unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB", str(archive))
        for info in members:
            if info.is_dir():
                continue
            dest = target.joinpath(*PurePosixPath(info.filename).parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    return target

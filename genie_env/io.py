"""Atomic file writes and safe JSON / safetensors reads. Every file this project writes goes through here."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())   # mkstemp makes 0600; a file gets what open() would give it
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_folder(path) -> Path:
    """Create an output folder and its parents; a path that cannot be one (under a file, read-only) is a ValueError."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{path}: cannot create the output folder ({e.strerror})") from None
    return path


def lock_folder(folder):
    """Hold an exclusive lock on `folder` (an flock on folder/.lock; the folder must exist) for as long as the
    returned file stays open: a run keeps it for its lifetime, and the system drops it when the process ends,
    however it ends. A second run into the same folder is refused (ValueError naming the first's pid)."""
    import fcntl

    handle = open(Path(folder) / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        pid = handle.read().strip() or "?"
        handle.close()
        raise ValueError(f"{folder}: another run (pid {pid}) is writing here; wait for it to end or choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def sha256_file(path) -> str:
    """SHA-256 hex digest of a file's bytes, read in blocks (what a stage or a resumed run recorded it read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_json(path, obj) -> None:
    """Write `obj` as JSON atomically. NaN and infinities are refused (ValueError naming the file): JSON has no
    such numbers, and a file holding them is one no reader accepts."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    except ValueError as e:
        raise ValueError(f"{path}: refusing to write a value JSON cannot hold ({e})") from None
    atomic_write_bytes(path, (text + "\n").encode())


JSON_INT_DIGITS = 19   # integers longer than a 64-bit one are refused as they are read, not where they overflow


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (more than {JSON_INT_DIGITS})")
    return int(text)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def read_json(path) -> dict:
    """A JSON object from `path`, read strictly: no NaN or Infinity, no integer beyond 64 bits, no nesting deeper
    than Python's recursion allows; every error is a ValueError naming the file."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f, parse_int=_bounded_int, parse_constant=_no_constant)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid JSON (nested too deep)") from None
    except (UnicodeDecodeError, ValueError) as e:   # json.JSONDecodeError is a ValueError, as are the two above
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def safetensors_bytes(tensors: dict, metadata: dict | None = None) -> bytes:
    """A flat dict of tensors as safetensors bytes. `metadata` values must be strings."""
    from safetensors.torch import save

    # clone: a state dict may hold one tensor under several names (SB3 shares its features extractor)
    return save({k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}, metadata=metadata)


def save_tensors(path, tensors: dict, metadata: dict | None = None) -> None:
    """Save a flat dict of tensors as safetensors, atomically. `metadata` values must be strings."""
    atomic_write_bytes(path, safetensors_bytes(tensors, metadata))


def load_tensors(path) -> tuple[dict, dict]:
    """Load a safetensors file (never unpickles). Returns (tensors, metadata); errors name the file.

    The bytes are read into memory this process owns, not memory-mapped: a file overwritten or cut under a running
    env would otherwise change its weights or kill it with SIGBUS (issue 12). Floating-point tensors must be finite.
    """
    import torch
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    data = path.read_bytes()
    try:
        tensors = load(data)
        metadata = _safetensors_metadata(data)
    except Exception as e:  # safetensors raises several types for bad headers and truncation
        raise ValueError(f"{path}: not a valid safetensors file ({type(e).__name__}: {e})") from None
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{path}: tensor {key} holds NaN or infinite values")
    return tensors, metadata


def _safetensors_metadata(data: bytes) -> dict:
    """The `__metadata__` of a safetensors file's bytes (8-byte little-endian header length, then a JSON header)."""
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    return header.get("__metadata__") or {}

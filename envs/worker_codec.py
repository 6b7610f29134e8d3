"""Message encoding shared by the env worker and the policy server: msgpack with explicit arrays.

A numpy array travels as a msgpack map ``{"__ndarray__": True, "dtype": "<f4",
"shape": [..], "data": <bytes, C order>}``; numpy scalars become plain Python
numbers. Only plain numeric/bool dtypes are accepted on decode (never object
arrays or pickles), and the byte count must match dtype and shape exactly, so a
malformed message fails with ``CodecError`` naming what is wrong.

Framing (worker pipes): each message is a 4-byte big-endian unsigned length
followed by that many bytes of msgpack.
"""

from __future__ import annotations

import math
import struct
from typing import Any, BinaryIO

import msgpack
import numpy as np

ARRAY_TAG = "__ndarray__"
ALLOWED_DTYPE_KINDS = "biuf"  # bool, signed, unsigned, float
HEADER = struct.Struct(">I")
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class CodecError(ValueError):
    """A message that cannot be encoded or decoded (names the offending part)."""


def _encode_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in ALLOWED_DTYPE_KINDS:
            raise CodecError(f"cannot send an array of dtype {obj.dtype} (allowed kinds: bool, int, uint, float)")
        arr = np.ascontiguousarray(obj)
        return {ARRAY_TAG: True, "dtype": arr.dtype.str, "shape": list(arr.shape), "data": arr.tobytes()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise CodecError(f"cannot encode a value of type {type(obj).__name__}")


def _decode_array(m: dict[str, Any]) -> np.ndarray:
    try:
        dtype = np.dtype(m["dtype"])
        shape = tuple(int(s) for s in m["shape"])
        data = m["data"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"malformed array field: {exc}") from None
    if dtype.kind not in ALLOWED_DTYPE_KINDS or dtype.hasobject:
        raise CodecError(f"array dtype {dtype} is not allowed (allowed kinds: bool, int, uint, float)")
    if not isinstance(data, bytes) or min(shape, default=0) < 0:
        raise CodecError(f"malformed array: shape {list(shape)}, data of type {type(data).__name__}")
    expected = math.prod(shape) * dtype.itemsize
    if expected != len(data):
        raise CodecError(f"array of dtype {dtype} and shape {list(shape)} needs {expected} bytes, got {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _decode_hook(m: dict[Any, Any]) -> Any:
    if m.get(ARRAY_TAG) is True:
        return _decode_array(m)
    return m


def encode(message: Any) -> bytes:
    """Serialise ``message`` (dicts, lists, str, numbers, bytes, numpy arrays)."""
    try:
        return msgpack.packb(message, default=_encode_default, use_bin_type=True)
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode message: {exc}") from None


def decode(payload: bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Any:
    """Parse one message; anything malformed raises ``CodecError``."""
    if len(payload) > max_bytes:
        raise CodecError(f"message of {len(payload)} bytes exceeds the limit of {max_bytes} bytes")
    try:
        return msgpack.unpackb(payload, object_hook=_decode_hook, raw=False, strict_map_key=True)
    except CodecError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise CodecError(f"malformed msgpack message: {type(exc).__name__}: {exc}") from None


def write_frame(stream: BinaryIO, message: Any) -> None:
    """Write one length-prefixed message and flush."""
    payload = encode(message)
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read exactly ``n`` bytes; ``EOFError`` if the stream ends first."""
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            raise EOFError(f"stream closed after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Any:
    """Read one length-prefixed message (blocking)."""
    (length,) = HEADER.unpack(read_exact(stream, HEADER.size))
    if length > max_bytes:
        raise CodecError(f"frame of {length} bytes exceeds the limit of {max_bytes} bytes")
    return decode(read_exact(stream, length), max_bytes)

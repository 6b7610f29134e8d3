"""Single-colour PNG textures for the lite pack (no imaging library needed)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

# Named colours for texture file stems that say what they are; anything else
# gets a stable muted colour derived from its path.
NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (235, 235, 235),
    "light_gray": (190, 190, 190),
    "gray": (128, 128, 128),
    "dark_gray": (70, 70, 70),
    "black": (25, 25, 25),
    "wood": (150, 105, 65),
    "marble": (220, 215, 205),
    "metal": (175, 178, 182),
    "brick": (150, 70, 55),
    "tile": (200, 200, 190),
}


def colour_for(path: str) -> tuple[int, int, int]:
    """A colour for a texture path: a named colour if its name contains one, else a hash tint."""
    stem = Path(path).stem.lower()
    for name in sorted(NAMED_COLOURS, key=len, reverse=True):
        if name in stem or name in path.lower():
            return NAMED_COLOURS[name]
    digest = hashlib.sha256(path.encode()).digest()
    return tuple(90 + b % 120 for b in digest[:3])  # type: ignore[return-value]


def png_bytes(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """Encode a ``size`` x ``size`` single-colour RGB PNG."""
    row = b"\x00" + bytes(rgb) * size
    raw = row * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def write_texture(path: Path, rel: str) -> None:
    """Write a single-colour PNG at ``path`` coloured for its asset-relative name ``rel``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(colour_for(rel)))

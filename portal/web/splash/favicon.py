"""`/favicon.ico`: every browser asks for it on its first visit, on a line where each request counts. A
16-pixel square in the pages' green, made here (a PNG inside an ICO), rather than a 404 each time."""

import struct
import zlib

from litestar import Response

from .pages import readable

SIZE, GREEN = 16, (0x0B, 0x6B, 0x3A)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png() -> bytes:
    rows = b"".join(b"\x00" + bytes(GREEN) * SIZE for _ in range(SIZE))  # each row: no filter, RGB
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)  # 8 bits a channel, truecolour
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def _ico(png: bytes) -> bytes:
    directory = struct.pack("<HHH", 0, 1, 1)  # an icon file holding one image
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(png), len(directory) + 16)
    return directory + entry + png


ICON = _ico(_png())


@readable("/favicon.ico", media_type="image/x-icon")
async def favicon() -> Response[bytes]:
    return Response(ICON, headers={"Cache-Control": "public, max-age=604800"})  # a week: it never changes

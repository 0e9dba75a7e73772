"""What a file really is, from its first bytes: magic numbers of the formats attachments may have,
and image dimensions where the header holds them (PNG, GIF, JPEG, WebP, BMP)."""

from __future__ import annotations

import struct

SNIFF_BYTES = 64 * 1024  # enough for JPEG dimensions behind a typical EXIF block

# Canonical kinds `sniff` answers with.
PNG, JPEG, GIF, WEBP, BMP, TIFF, HEIC, ICO = "png", "jpeg", "gif", "webp", "bmp", "tiff", "heic", "ico"
PDF, ZIP, OLE, RAR, SEVEN_Z, GZIP, TAR, RTF = "pdf", "zip", "ole", "rar", "7z", "gzip", "tar", "rtf"
MP3, OGG, WAV, FLAC, AMR, AAC = "mp3", "ogg", "wav", "flac", "amr", "aac"
MP4, WEBM, AVI, FLV, MPEG = "mp4", "webm", "avi", "flv", "mpeg"  # MP4 = any ISO-BMFF (mp4, m4a, mov, 3gp)
TEXT, SVG, HTML = "text", "svg", "html"


def _is_text(data: bytes) -> bool:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its byte-order mark
        return True
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return True  # the prefix cut a multi-byte character
    # Legacy 8-bit text (Latin-1 CSV exports): no control characters but tab, newlines, form feed.
    return all(b >= 32 or b in (9, 10, 12, 13) for b in data)


def _markup_kind(data: bytes) -> str | None:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head and (
        head.startswith(b"<?xml")
        or head.startswith(b"<svg")
        or head.startswith(b"<!--")
        or head.startswith(b"<!doctype svg")
    ):
        return SVG
    for marker in (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe"):
        if head.startswith(marker) or marker in head[:512]:
            return HTML
    return None


def sniff(data: bytes) -> str | None:
    """The kind of file `data` starts, or None when it is none we know."""
    d = data
    if d.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if d.startswith(b"\xff\xd8\xff"):
        return JPEG
    if d[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if d[:4] == b"RIFF" and d[8:12] == b"WEBP":
        return WEBP
    if d[:4] == b"RIFF" and d[8:12] == b"WAVE":
        return WAV
    if d[:4] == b"RIFF" and d[8:12] == b"AVI ":
        return AVI
    if d[:2] == b"BM" and len(d) >= 26:
        return BMP
    if d[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if d[:4] == b"\x00\x00\x01\x00":
        return ICO
    if d[4:8] == b"ftyp":
        brand = d[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"avif"):
            return HEIC
        return MP4
    if d.startswith(b"%PDF-"):
        return PDF
    if d[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    if d.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return OLE
    if d.startswith(b"Rar!\x1a\x07"):
        return RAR
    if d.startswith(b"7z\xbc\xaf\x27\x1c"):
        return SEVEN_Z
    if d.startswith(b"\x1f\x8b"):
        return GZIP
    if len(d) >= 262 and d[257:262] == b"ustar":
        return TAR
    if d.startswith(b"{\\rtf"):
        return RTF
    if d.startswith(b"ID3") or (len(d) >= 2 and d[0] == 0xFF and d[1] & 0xE0 == 0xE0 and d[1] & 0x06 != 0):
        return MP3
    if len(d) >= 2 and d[0] == 0xFF and d[1] & 0xF6 == 0xF0:
        return AAC  # ADTS
    if d.startswith(b"OggS"):
        return OGG
    if d.startswith(b"fLaC"):
        return FLAC
    if d.startswith(b"#!AMR"):
        return AMR
    if d.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM
    if d.startswith(b"FLV"):
        return FLV
    if d[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return MPEG
    markup = _markup_kind(d)
    if markup is not None:
        return markup
    if d and _is_text(d):
        return TEXT
    return None


def dimensions(kind: str | None, data: bytes) -> tuple[int, int] | None:
    """Width and height from the header, when the format keeps them near the start."""
    try:
        if kind == PNG and len(data) >= 24 and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if kind == GIF and len(data) >= 10:
            return struct.unpack("<HH", data[6:10])
        if kind == BMP and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if kind == WEBP and len(data) >= 30:
            chunk = data[12:16]
            if chunk == b"VP8 ":
                width, height = struct.unpack("<HH", data[26:30])
                return width & 0x3FFF, height & 0x3FFF
            if chunk == b"VP8L":
                b = data[21:25]
                width = 1 + (((b[1] & 0x3F) << 8) | b[0])
                height = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
                return width, height
            if chunk == b"VP8X":
                width = 1 + int.from_bytes(data[24:27], "little")
                height = 1 + int.from_bytes(data[27:30], "little")
                return width, height
        if kind == JPEG:
            return _jpeg_size(data)
    except (struct.error, IndexError):
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None

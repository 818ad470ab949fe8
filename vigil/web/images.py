"""Signed, short-lived image URLs: face crops are never served by path, only through a token.

A token signs (relative crop path, thumbnail or not, expiry time) with HMAC-SHA256 under a key
derived from the app's signing key and this module's salt. Expiry times are rounded up to half-TTL
steps, so the same image gets the same URL for a while and browsers can cache it; a URL is then
valid for between TTL/2 and TTL seconds. The path in a valid token is still resolved through
`CropStore.resolve` (no escape from the faces directory) and must name an image file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import RefusedError
from vigil.store.crops import CropStore, thumbnail_of

SALT = "vigil.image-url"
IMAGE_TYPES = {".webp": "image/webp", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
URL_PREFIX = "/api/images/"


class ImageTokenError(RefusedError):
    """A token that is not ours (tampered, truncated, signed with another key)."""

    status = 403


class ImageTokenExpired(ImageTokenError):
    """A genuine link past its expiry: the client fetches a fresh URL."""

    status = 410


@dataclass(frozen=True)
class ImageRef:
    relative: str  # relative to the faces directory, as stored in the rows
    thumb: bool
    expires_at: int  # Unix time

    def seconds_left(self, now: float) -> int:
        return max(0, int(self.expires_at - now))


class ImageSigner:
    """HMAC-SHA256 tokens `<base64url payload>.<base64url signature>`; the payload is
    `<thumb 0|1>:<expiry>:<relative path>`. A page signs hundreds of URLs, so the key is derived
    once (not per token, as itsdangerous's serializers do)."""

    def __init__(
        self,
        key: str,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
        salt: str = SALT,
        prefix: str = URL_PREFIX,
    ) -> None:
        # Another salt for another image root (the watchlist's): its tokens are worthless here.
        self._key = hmac.new(key.encode(), salt.encode(), hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self.clock = clock
        self.prefix = prefix

    def url(self, relative: str | None, thumb: bool = False) -> str | None:
        """The signed URL of a stored crop (None for no crop)."""
        if not relative:
            return None
        return self.prefix + self.token(relative, thumb)

    def token(self, relative: str, thumb: bool = False) -> str:
        step = max(1, self.ttl_s // 2)
        expires = math.ceil(self.clock() / step) * step + self.ttl_s - step
        payload = _b64(f"{int(thumb)}:{expires}:{relative}".encode())
        return f"{payload}.{self._signature(payload)}"

    def read(self, token: str) -> ImageRef:
        """The reference in a token; raises ImageTokenError (bad) or ImageTokenExpired."""
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            raise ImageTokenError("invalid image link")
        try:
            thumb, expires, relative = _unb64(payload).decode().split(":", 2)
            ref = ImageRef(relative, thumb == "1", int(expires))
        except ValueError as exc:  # cannot happen for our own tokens
            raise ImageTokenError("invalid image link") from exc
        if self.clock() >= ref.expires_at:
            raise ImageTokenExpired("this image link has expired: reload the page")
        return ref

    def _signature(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:20])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def image_file(crops: CropStore, ref: ImageRef) -> Path | None:
    """The file a reference names, or None when it does not exist (any more).

    Raises ValueError when the path escapes the faces directory or is not an image."""
    path = crops.resolve(ref.relative)
    if path.suffix.lower() not in IMAGE_TYPES:
        raise ValueError(f"not an image: {ref.relative!r}")
    if ref.thumb and thumbnail_of(path).is_file():
        return thumbnail_of(path)
    return path if path.is_file() else None


def media_type(path: Path) -> str:
    return IMAGE_TYPES[path.suffix.lower()]

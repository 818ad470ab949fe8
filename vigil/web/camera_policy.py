"""What a camera added at run time (API/UI) may point at (`camera_policy` settings).

An admin must not turn the server into a proxy to itself or its files: a camera URL is fetched
by the server and its pictures are shown to every viewer. So run-time cameras get an allowed set
of URL kinds, network hosts that are not loopback or link-local (unless allowed), and files only
inside the media roots. Cameras the operator configures (YAML, CAMERAS_IPS) are trusted as before.
A refused file gets the same answer whether or not it exists, so the check is no existence oracle.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from vigil.config import CameraPolicyConfig, CameraScheme, VigilSettings
from vigil.errors import InvalidError

RESOLVE_TIMEOUT_S = 2.0
_USB_URL = re.compile(r"^(?:usb:\d{1,2}|/dev/video\d{1,2})$")
_URL_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_LISTEN = re.compile(r"[?&]listen=1(?=&|$)")  # vigil.sources.av_source.rtmp_listens
_NETWORK: tuple[CameraScheme, ...] = ("rtsp", "rtsps", "http", "https", "rtmp", "rtmps")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CameraUrlRefused(InvalidError):
    """The camera policy does not let a camera added at run time use this URL (HTTP 422)."""


def url_scheme(url: str) -> CameraScheme | None:
    """The policy's kind of a camera URL; None for a URL scheme Vigil does not open."""
    if _USB_URL.match(url):
        return "usb"
    match = _URL_SCHEME.match(url)
    if match is None:
        return "file"
    scheme = match.group(1).lower()
    if scheme == "file":
        return "file"
    return next((known for known in _NETWORK if known == scheme), None)


class CameraPolicy:
    def __init__(self, config: CameraPolicyConfig, data_dir: Path) -> None:
        self.config = config
        roots = config.media_roots if config.media_roots is not None else [data_dir / "media"]
        self.media_roots = [root.resolve() for root in roots]

    @classmethod
    def of(cls, settings: VigilSettings) -> CameraPolicy:
        return cls(settings.camera_policy, settings.data_dir)

    def check(self, url: str) -> None:
        """Raises `CameraUrlRefused` unless a run-time camera may use `url` (syntax checked before)."""
        scheme = url_scheme(url)
        if scheme is None or scheme not in self.config.allowed_schemes:
            allowed = ", ".join(self.config.allowed_schemes) or "none"
            raise CameraUrlRefused(
                f"this server does not allow {scheme or 'such'} camera URLs (allowed: {allowed}; "
                "setting camera_policy.allowed_schemes)"
            )
        if scheme in ("rtmp", "rtmps") and _LISTEN.search(url):
            # A run-time camera must not open a port on this server; a configured one may.
            raise CameraUrlRefused(
                "a listening RTMP camera (listen=1) can only be set in the configuration file"
            )
        if scheme == "file":
            self._check_file(Path(url[len("file://") :] if url.lower().startswith("file://") else url))
        elif scheme != "usb":
            self._check_host(urlsplit(url).hostname or "")

    def _check_file(self, path: Path) -> None:
        try:
            real = path.resolve()  # symlinks and `..` followed: the file that would be opened
        except (OSError, RuntimeError, ValueError):
            real = None
        if real is None or not any(real.is_relative_to(root) for root in self.media_roots):
            # The same words whether the file exists or not: no existence oracle.
            raise CameraUrlRefused(
                "video files must be inside a media directory of the server "
                "(setting camera_policy.media_roots)"
            )
        if not _is_file(real):
            raise CameraUrlRefused(f"no video file at {path} in the media directories")

    def _check_host(self, host: str) -> None:
        for address in _addresses(host):
            if (address.is_loopback or address.is_unspecified) and not self.config.allow_loopback:
                raise CameraUrlRefused(
                    f"camera host {host} is this machine (loopback); refused unless "
                    "camera_policy.allow_loopback is set"
                )
            if address.is_link_local and not self.config.allow_link_local:
                raise CameraUrlRefused(
                    f"camera host {host} is link-local; refused unless camera_policy.allow_link_local is set"
                )


def _is_file(path: Path) -> bool:
    """`Path.is_file`, also False for a name it cannot check (too long, no permission), not an error."""
    try:
        return path.is_file()
    except OSError:
        return False


def _addresses(host: str) -> list[IpAddress]:
    """Every address `host` stands for (IPv4-mapped IPv6 unwrapped). A name that does not resolve
    within RESOLVE_TIMEOUT_S gives none: the camera cannot reach it now, and the check runs
    again at every start."""
    try:
        return [_unmapped(ipaddress.ip_address(host))]
    except ValueError:
        pass
    found: list[IpAddress] = []

    def resolve() -> None:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return
        found.extend(_unmapped(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos)

    worker = threading.Thread(target=resolve, name="vigil-resolve", daemon=True)
    worker.start()
    worker.join(RESOLVE_TIMEOUT_S)
    return list(found) if not worker.is_alive() else []


def _unmapped(address: IpAddress) -> IpAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address

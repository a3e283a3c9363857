"""Who is calling: client IP (behind trusted proxies) and device info from the User-Agent."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

from .conf import app_settings
from .constants import DeviceType

MAX_USER_AGENT = 512
MAX_DEVICE_NAME = 128
#: How much of a stored user agent a response shows.
MAX_USER_AGENT_SHOWN = 256
# C0 and C1 controls (DEL included) and the Unicode bidi embeddings, overrides and isolates.
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

DESKTOP_OS = ("Windows", "Mac OS X", "Linux", "Ubuntu", "Fedora", "Chrome OS", "FreeBSD", "Debian")
MOBILE_OS = ("iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS")
# Substrings of crawler and tool user agents ("bot/" rather than "bot": phones named Cubot exist).
BOT_HINTS = (
    "bot/",
    "bot;",
    "bot)",
    "crawler",
    "spider",
    "slurp",
    "curl/",
    "wget/",
    "python-requests",
    "httpx",
)


@dataclass(frozen=True)
class DeviceInfo:
    browser: str
    os: str
    type: str
    model: str


@dataclass(frozen=True)
class ClientInfo:
    """What services need to know about the caller; built by the view from the request."""

    ip: str | None = None
    user_agent: str = ""
    device_name: str = ""
    #: RFC 7638 thumbprint of the key of a verified DPoP proof sent with a sign-in
    dpop_jkt: str | None = None


# "[v6]" or "v4", then an optional ":port" (ASCII digits); anything else is a bare address.
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<v4>[\d.]+))(?::(?P<port>\d{1,5}))?", re.ASCII)


def _valid_ip(value: str, version: int | None = None) -> str | None:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return str(ip) if version in (None, ip.version) else None


def forwarded_ip(entry: str) -> str | None:
    """The address of one ``X-Forwarded-For`` entry: a bare IPv4/IPv6 address,
    ``ip:port``, ``[v6]`` or ``[v6]:port``; None for anything else."""
    entry = entry.strip()
    match = _HOST_PORT.fullmatch(entry)
    if match is None:
        return _valid_ip(entry)
    if match["port"] is not None and int(match["port"]) > 65535:
        return None
    if match["v6"] is not None:
        return _valid_ip(match["v6"], version=6)
    return _valid_ip(match["v4"], version=4)


def client_ip(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The client's IP: ``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry added by
    the outermost of ``NUM_PROXIES`` trusted proxies (its port, if any, dropped).

    Several headers folded by the server are one comma-separated list, read from the
    right; empty entries keep their place, so nothing a client wrote (left of the
    ``NUM_PROXIES``-th entry from the right) is ever trusted. An unusable entry there
    means ``REMOTE_ADDR``, never an entry further left."""
    num_proxies = app_settings.NUM_PROXIES
    if num_proxies and forwarded_for and forwarded_for.strip():
        entries = forwarded_for.split(",")
        ip = forwarded_ip(entries[-min(num_proxies, len(entries))])
        if ip:
            return ip
    return _valid_ip(remote_addr or "")


def neutralize(text: str) -> str:
    """Client-supplied text with control and bidi characters replaced by U+FFFD, so that
    it cannot fake lines, or reorder what a page shows around it."""
    return _UNSAFE_CHARACTERS.sub("\ufffd", text)


def display_user_agent(user_agent: str) -> str:
    """A client-supplied user agent as a response may show it: at most
    ``MAX_USER_AGENT_SHOWN`` characters, neutralized."""
    return neutralize((user_agent or "")[:MAX_USER_AGENT_SHOWN])


def _device_type(ua: str, os_family: str, device_family: str) -> str:
    lowered = ua.lower()
    if device_family == "Spider" or any(hint in lowered for hint in BOT_HINTS):
        return DeviceType.BOT
    if (
        "ipad" in lowered
        or "tablet" in lowered
        or (os_family == "Android" and "mobile" not in lowered)
    ):
        return DeviceType.TABLET
    if os_family in MOBILE_OS or "mobi" in lowered:
        return DeviceType.MOBILE
    if os_family in DESKTOP_OS:
        return DeviceType.DESKTOP
    return DeviceType.OTHER


@lru_cache(maxsize=1024)
def parse_device(user_agent: str) -> DeviceInfo:
    """Browser, OS and device type of a User-Agent (ua-parser's bundled rules); the
    names, captured from client-supplied text, neutralized."""
    if not user_agent:
        return DeviceInfo("", "", DeviceType.OTHER, "")
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else ""
    os_family = result.os.family if result.os else ""
    device = result.device.family if result.device else ""
    browser = "" if browser == "Other" else browser
    os_name = "" if os_family == "Other" else os_family
    model = "" if device in ("Other", "Spider") else device
    device_type = _device_type(user_agent, os_family, device)
    return DeviceInfo(neutralize(browser), neutralize(os_name), device_type, neutralize(model))


def device_display_name(info: DeviceInfo, device_name: str = "") -> str:
    """The client-supplied name, else one derived from the user agent."""
    if device_name:
        return device_name
    if info.browser and info.os:
        return f"{info.browser} on {info.os}"
    return info.model or info.browser or info.os or "Unknown device"

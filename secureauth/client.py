"""Who is calling: client IP (behind trusted proxies) and device info from the User-Agent."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

from .conf import app_settings
from .constants import DeviceType

MAX_USER_AGENT = 512
MAX_DEVICE_NAME = 128

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


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The client's IP: ``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry added by
    the outermost of ``NUM_PROXIES`` trusted proxies. Entries a client wrote
    itself (left of that) are never trusted."""
    num_proxies = app_settings.NUM_PROXIES
    if num_proxies and forwarded_for:
        entries = [e for e in forwarded_for.split(",") if e.strip()]
        if entries:
            candidate = entries[-min(num_proxies, len(entries))]
            ip = _valid_ip(candidate)
            if ip:
                return ip
    return _valid_ip(remote_addr or "")


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
    """Browser, OS and device type of a User-Agent (ua-parser's bundled rules)."""
    if not user_agent:
        return DeviceInfo("", "", DeviceType.OTHER, "")
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else ""
    os_family = result.os.family if result.os else ""
    device = result.device.family if result.device else ""
    browser = "" if browser == "Other" else browser
    os_name = "" if os_family == "Other" else os_family
    model = "" if device in ("Other", "Spider") else device
    return DeviceInfo(browser, os_name, _device_type(user_agent, os_family, device), model)


def device_display_name(info: DeviceInfo, device_name: str = "") -> str:
    """The client-supplied name, else one derived from the user agent."""
    if device_name:
        return device_name
    if info.browser and info.os:
        return f"{info.browser} on {info.os}"
    return info.model or info.browser or info.os or "Unknown device"

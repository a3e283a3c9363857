"""TOTP devices in the admin, read-only: the seed is sealed (``secureauth.sealing``).

django-otp's own ``TOTPDeviceAdmin`` shows and edits the ``key`` column and renders
the seed as a QR code; with the seed sealed that column holds only a marker, so its
QR view would fail, its form would refuse to save, and a device added there would
hold its seed in clear (SecureAuth refuses such a device until
``secureauth_rotate_mfa_keys`` seals it). SecureAuth replaces it on the default admin
site with this read-only view, which shows the id of the key each seed is sealed
under, never a seed. Devices are added and removed through the API (audited).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..models import TOTPSecret
from ..models.totp import SEALED
from .base import USER_EMAIL, ReadOnlyAdmin


class SealedTOTPDeviceAdmin(ReadOnlyAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at", "sealed_under")
    list_filter = ("confirmed", "created_at")
    list_select_related = ("user", "secureauth_secret")
    search_fields = (USER_EMAIL, "name")
    fields = (
        "user",
        "name",
        "confirmed",
        "created_at",
        "last_used_at",
        "sealed_under",
        "step",
        "digits",
        "tolerance",
        "drift",
        "throttling_failure_timestamp",
        "throttling_failure_count",
    )
    readonly_fields = fields

    @admin.display(description=_("sealed under key"))
    def sealed_under(self, device: TOTPDevice) -> str:
        try:
            return device.secureauth_secret.key_id
        except TOTPSecret.DoesNotExist:
            return str(_("(not sealed)") if device.key != SEALED else _("(seed missing)"))


def install_totp_device_admin(site: admin.AdminSite) -> None:
    """Show TOTP devices on ``site`` read-only, in place of django-otp's admin."""
    if site.is_registered(TOTPDevice):
        site.unregister(TOTPDevice)
    site.register(TOTPDevice, SealedTOTPDeviceAdmin)


install_totp_device_admin(admin.site)

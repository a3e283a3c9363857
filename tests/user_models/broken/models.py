"""A user model SecureAuth cannot work with: no email field, no groups (roles)."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models


class NoEmailNoGroupsUser(AbstractBaseUser):
    phone = models.CharField(max_length=20, unique=True)

    objects = BaseUserManager()

    USERNAME_FIELD = "phone"  # EMAIL_FIELD stays AbstractBaseUser's "email": no such field

    def __str__(self) -> str:
        return self.phone

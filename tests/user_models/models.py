"""Two user models a host project might have instead of Django's ``auth.User``."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import Group, Permission, PermissionsMixin
from django.db import models
from django.utils import timezone


class EmailUserManager(BaseUserManager):
    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)  # None: an unusable password
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class EmailUser(AbstractBaseUser, PermissionsMixin):
    """The email is the login: no ``username``, and no ``date_joined`` either."""

    email = models.EmailField(unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)

    objects = EmailUserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email


class HandleUserManager(BaseUserManager):
    def create_user(self, handle, email, password=None, **extra):
        if not handle or not email:
            raise ValueError("A handle and an email are required.")
        user = self.model(handle=handle, email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, handle, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(handle, email, password, **extra)


class HandleUser(AbstractBaseUser, PermissionsMixin):
    """A short public handle is the ``USERNAME_FIELD``; the email is an ordinary field
    (``EMAIL_FIELD``). Its groups use another related name than ``user_set``, as a
    project with two such models must."""

    handle = models.CharField(max_length=32, unique=True)
    email = models.EmailField()
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    groups = models.ManyToManyField(
        Group, blank=True, related_name="handle_users", related_query_name="handle_user"
    )
    user_permissions = models.ManyToManyField(
        Permission, blank=True, related_name="handle_users", related_query_name="handle_user"
    )

    objects = HandleUserManager()

    USERNAME_FIELD = "handle"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    def __str__(self) -> str:
        return self.handle

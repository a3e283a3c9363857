"""SecureAuth: a pluggable Django authentication service."""

__version__ = "0.1.0"

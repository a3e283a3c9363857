"""Signal receivers, connected in ``SecureAuthConfig.ready()``."""

"""Business rules of SecureAuth. Services never touch ``request`` nor build HTTP responses."""

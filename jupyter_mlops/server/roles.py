"""The tracking server's roles, lowest to highest (kept free of imports: the CLI's help lists them)."""
from __future__ import annotations

# Each role may do what the roles before it may, and more (see auth.ROLE_ACTIONS).
ROLES = ("viewer", "editor", "approver", "admin")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000

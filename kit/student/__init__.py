"""Tools that ship to students with the kit (see kit/__init__.py)."""

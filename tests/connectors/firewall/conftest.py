"""The ``netns`` fixture (see namespaces.py; a plain module, since every tests folder has its own conftest)."""

from namespaces import netns

__all__ = ["netns"]

"""Shipped playbooks (package data)."""

"""Shipped notification templates (package data)."""

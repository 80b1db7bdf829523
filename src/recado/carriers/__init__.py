"""Carrier connectors: one folder each, registered by code, behind the interface in base.py."""

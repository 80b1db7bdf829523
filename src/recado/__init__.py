"""Recado: a self-hostable SMS marketing and messaging platform."""

__version__ = "0.1.0"

"""SMPP 3.4: the connector, its status tables, receipt parsing, and a local SMSC for tests."""

from recado.carriers.smpp.connector import SmppConnector

__all__ = ["SmppConnector"]

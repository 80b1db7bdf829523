from recado.carriers.vonage.connector import VonageConnector

__all__ = ["VonageConnector"]

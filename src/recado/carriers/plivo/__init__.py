from recado.carriers.plivo.connector import PlivoConnector

__all__ = ["PlivoConnector"]

from recado.carriers.twilio.connector import TwilioConnector

__all__ = ["TwilioConnector"]

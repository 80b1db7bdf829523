from recado.carriers.simulator.connector import SimulatorConnector

__all__ = ["SimulatorConnector"]

"""Every setting Recado reads, in one typed place.

Values come from `RECADO_*` environment variables or an optional `.env` file in the
working directory. `RECADO_DATABASE_URL` alone switches SQLite to PostgreSQL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECADO_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./data/recado.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+psycopg://host/db",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        default="", description="Base URL that people and carriers reach; defaults to host:port"
    )
    default_country: str = Field(
        default="US", description="ISO country used to read numbers written without +"
    )
    workspace_name: str = "My workspace"
    owner_email: str = "owner@example.com"
    data_dir: Path = Path("./data")
    # Signs the web UI's session cookies. Empty: a key made once in data_dir. Servers behind
    # one load balancer must share it: set the same value on each (32 characters or more).
    session_secret: str = ""
    log_level: str = "info"
    # The embedded mode runs the dispatcher and the carrier connectors inside the API process.
    run_workers: bool = True
    dispatch_batch_size: int = 200
    dispatch_idle_seconds: float = 0.2
    # After this long in `sending`, a message's submit is taken as interrupted: `unknown`.
    submit_lease_seconds: float = 60.0
    # A batch claimed by a dispatcher that died is free again after this long.
    claim_lease_seconds: float = 120.0
    # Built-in carrier simulator: how a fake network behaves.
    simulator_delivery_delay_seconds: float = 1.0
    simulator_failure_ratio: float = 0.0
    simulator_undelivered_ratio: float = 0.0

    @field_validator("default_country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("default_country must be a two-letter ISO code such as US or BR")
        return value.upper()

    @field_validator("session_secret")
    @classmethod
    def _long_secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError(
                "session_secret must be 32 characters or more; make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

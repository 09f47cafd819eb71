"""All configuration, from ``NEGOCIA_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEGOCIA_", env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'negocia.db'}"
    redis_url: str | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    rasa_port: int = 5005
    actions_port: int = 5055
    # default: http://127.0.0.1:{rasa_port}; several instances comma-separated (see docs/deploy.md)
    rasa_url: str | None = None
    rasa_timeout_s: float = 30.0

    # Shared secret between the action server and the internal API.
    service_token: SecretStr = SecretStr("dev-service-token-change-me")
    # Signs staff bearer tokens; rotating it logs every staff member out.
    secret_key: SecretStr = SecretStr("dev-secret-key-change-me")
    access_token_ttl_minutes: int = Field(default=480, ge=1)
    public_base_url: str | None = None

    # The creditor this installation collects for (one per deployment).
    creditor_legal_name: str = "Horizonte Distribuidora de Alimentos Ltda"
    creditor_trade_name: str = "Horizonte Distribuidora"
    creditor_cnpj: str = "33445566000186"
    creditor_address: str = "Av. do Contorno, 1000, Funcionários, Belo Horizonte - MG, 30110-000"
    creditor_city: str = "Belo Horizonte"
    # Receiving PIX key of the creditor (static BR Codes); a CNPJ key by default.
    creditor_pix_key: str = "33445566000186"
    # PIX webhooks are signed: X-Negocia-Signature: sha256=<hex HMAC-SHA256 of the raw body>.
    pix_webhook_secret: SecretStr = SecretStr("dev-pix-webhook-secret-change-me")
    # Debtor-facing links (term PDF, QR images) are signed and expire.
    public_link_ttl_hours: int = Field(default=72, ge=1)

    # WhatsApp through Twilio (off unless account SID, auth token and sender are all set).
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None  # the approved sender, e.g. +551140028922
    twilio_api_base_url: str = "https://api.twilio.com"  # tests point it at a local fake

    # Turns run on their own threads (never the request threadpool the actions call back into);
    # the database pool must cover them plus the request threads.
    turn_workers: int = Field(default=16, ge=1)
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=40, ge=0)

    # Telegram (off unless the bot token is set). Telegram echoes the secret token of setWebhook
    # in X-Telegram-Bot-Api-Secret-Token; tests point the API base URL at a local fake.
    telegram_bot_token: SecretStr | None = None
    telegram_secret_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"

    # Inbound attachments (receipts, PDFs, voice notes) are downloaded here by the turn; images,
    # PDF and audio only, each at most media_max_bytes.
    media_dir: Path = PROJECT_ROOT / "var" / "media"
    media_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)

    # Collector console: session lifetime, and the default collector authority (admins may set
    # a global one and per-collector ones; see server/services/collector_authority.py).
    console_session_minutes: int = Field(default=600, ge=1)
    console_stream_seconds: float = Field(default=25.0, ge=0)  # one SSE response; browsers reconnect
    rasa_auth_token: SecretStr | None = None  # passed to `rasa run --auth-token` for its HTTP API
    collector_max_discount_pct: Decimal = Decimal("30")
    collector_max_installments: int = 24
    collector_min_installment_amount: Decimal = Decimal("50.00")
    collector_min_down_payment_pct: Decimal = Decimal("0")
    collector_monthly_interest_pct: Decimal = Decimal("1")
    collector_max_first_due_days: int = 30
    collector_limit_amount: Decimal = Decimal("200000.00")

    # Dunning schedule: the approved WhatsApp templates, the send rate per sender (Twilio's
    # WhatsApp default is 80 messages per second), how often the scheduler looks for due reminders.
    whatsapp_templates_file: Path = PROJECT_ROOT / "config" / "whatsapp_templates.json"
    send_rate_per_second: int = Field(default=80, ge=1)
    dunning_tick_seconds: float = Field(default=60.0, gt=0)
    dunning_enabled: bool = True  # the in-process scheduler of `negocia serve` when Redis is unset
    arq_queue_name: str = "negocia:reminders"

    # The dialogue engine down or slow: turns stay pending and a retrier runs them again every
    # engine_retry_seconds (doubling while it stays down, up to engine_retry_max_seconds); after
    # engine_handoff_after_minutes the conversation goes to a collector (engine_unavailable).
    engine_retry_enabled: bool = True
    engine_retry_seconds: float = Field(default=5.0, gt=0)
    engine_retry_max_seconds: float = Field(default=60.0, gt=0)
    engine_handoff_after_minutes: float = Field(default=15.0, ge=0)
    # Every N debtor messages a new Rasa session starts (0: never): long conversations stay fast.
    rasa_session_max_turns: int = Field(default=40, ge=0)

    # Deployment mode: "production" refuses to start with the dev defaults of the secrets.
    env: str = "development"
    log_level: str = "INFO"
    log_format: str = "json"  # "json" (one object per line) or "text"
    # Abuse limits (429 with Retry-After): per sender (phone / Telegram user) and per client IP on
    # the webhooks and the sandbox; 0 turns a limit off. Bodies above max_body_bytes get 413.
    rate_limit_enabled: bool = True
    rate_limit_sender_per_minute: int = Field(default=30, ge=0)
    rate_limit_ip_webhook_per_minute: int = Field(default=12000, ge=0)
    rate_limit_ip_sandbox_per_minute: int = Field(default=600, ge=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    metrics_token: SecretStr | None = None  # when set, GET /metrics needs "Authorization: Bearer <token>"

    sandbox_enabled: bool = True
    timezone: str = "America/Sao_Paulo"
    max_identity_attempts: int = Field(default=3, ge=1)
    model_cache_dir: Path = Path.home() / ".cache" / "negocia" / "models"

    @property
    def resolved_rasa_urls(self) -> list[str]:
        """Every Rasa instance the gateway may send a conversation to."""
        urls = [url.strip() for url in (self.rasa_url or "").split(",") if url.strip()]
        return urls or [f"http://127.0.0.1:{self.rasa_port}"]

    @property
    def whatsapp_enabled(self) -> bool:
        token = self.twilio_auth_token.get_secret_value() if self.twilio_auth_token else ""
        return bool(self.twilio_account_sid and token and self.twilio_whatsapp_from)

    @property
    def server_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    @property
    def is_production(self) -> bool:
        return self.env.strip().lower() in ("production", "prod")

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve production (empty when it may)."""
        problems = []
        for name in ("service_token", "secret_key", "pix_webhook_secret"):
            value = getattr(self, name).get_secret_value()
            if "change-me" in value or len(value) < 16:
                problems.append(f"NEGOCIA_{name.upper()} usa o valor de desenvolvimento ou é curto demais")
        if self.rasa_auth_token is None:
            problems.append("NEGOCIA_RASA_AUTH_TOKEN não definido (API HTTP do Rasa sem token)")
        if self.database_url.startswith("sqlite"):
            problems.append("NEGOCIA_DATABASE_URL aponta para SQLite; use PostgreSQL em produção")
        if self.sandbox_enabled:
            problems.append("NEGOCIA_SANDBOX_ENABLED deve ser false em produção")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()

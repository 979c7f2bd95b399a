"""Settings, read from the environment (prefix ``BACKCHANNEL_``)."""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKCHANNEL_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./backchannel.db"
    broker_url: str = "memory://"
    public_url: str = "http://127.0.0.1:8000"
    organizer_key: str | None = None
    # Extra origins (comma separated) allowed to open WebSockets besides the page's own host.
    allowed_origins: str = ""
    # Rate limit per connection / per token: sustained sends per second and burst size.
    rate_per_s: float = 20.0
    rate_burst: int = 40
    # Heavy reads (export, report, CSV listing) per token: sustained per second and burst.
    heavy_read_per_s: float = 2.0
    heavy_read_burst: int = 5
    # … and per session, over all its tokens.
    heavy_read_session_per_s: float = 4.0
    heavy_read_session_burst: int = 10
    # A read costs one unit of those budgets per this many rows (events) it may return;
    # at least 1 for a CSV, an export or a report, 0.05 for a small listing page.
    heavy_read_rows_per_unit: int = 1000
    # Cheap reads (the session, an event's status, the playbook) per token.
    read_per_s: float = 10.0
    read_burst: int = 20
    # … and per session, over all its tokens (tokens added to a session do not multiply it).
    read_session_per_s: float = 30.0
    read_session_burst: int = 60
    # Seconds (at most; never more than its Retry-After) a 429 waits before it is answered.
    refusal_delay_s: float = 0.5
    # Request bodies larger than this are refused with 413 before they are read or parsed.
    max_body_bytes: int = 65536
    # Management requests (participants, rotate, revoke, PATCH, presets) per token.
    manage_per_s: float = 2.0
    manage_burst: int = 20
    # Participants (links) per session, revoked ones included; beyond: 409.
    max_participants: int = 50
    # Sessions created per minute per client address when no organizer key is set.
    create_per_min: int = 30
    # Sockets of this process that have not sent `hello` yet; beyond it they close (1013).
    pre_hello_max: int = 1000
    # … of them from one client address (the address uvicorn's proxy headers give).
    pre_hello_per_address: int = 50
    # Open sockets of this process from one client address (beyond: close 1013).
    sockets_per_address: int = 500
    # Seconds a process trusts what it knows of a link (a cached token, an open socket)
    # without reading it from the database again (app/realtime/link_checks.py).
    token_trust_s: float = 2.0
    # Days after a session ended that its links keep working (read-only, for the debrief).
    link_ttl_days: float = 30.0
    # Seconds a client has to send `hello`.
    hello_timeout_s: float = 10.0
    # Frames queued for one slow socket before it is closed (it resumes on reconnect).
    send_queue_max: int = 1000
    # Seconds a process's sockets count as open without a heartbeat (Redis broker; the
    # heartbeat runs every third of it).
    presence_ttl_s: float = 15.0
    # Seconds a participant's last socket must stay closed before `offline` is logged (a
    # reconnect within it logs nothing).
    presence_grace_s: float = 5.0
    # Move what start-up and each burst of sockets leave out of the garbage collector's
    # sight (app/heap.py). Off: Python's collector as it comes.
    gc_freeze: bool = True
    # Open sockets per participant over all processes (the next one closes with 4409).
    max_sockets_per_participant: int = 10
    # Seconds of silence after which a live feed (GET …/stream) sends a heartbeat comment.
    stream_heartbeat_s: float = 15.0
    # Seconds a stream ticket (POST …/stream-tickets) may be used to open a stream.
    stream_ticket_ttl_s: float = 60.0
    # Outbound webhooks (app/webhooks): deliver from this process too (every process may).
    webhooks: bool = True
    # Allow webhook URLs that resolve to loopback, private or link-local addresses (SSRF).
    webhook_allow_private: bool = False
    # A deployment-wide endpoint for every session's unanswered stop alerts (and its
    # Standard Webhooks secret, whsec_…, and the escalation level that fires it).
    webhook_default_url: str | None = None
    webhook_default_secret: str | None = None
    webhook_default_level: int = 2
    # Retries: the first after webhook_retry_base_s, doubling up to webhook_retry_max_s; an
    # endpoint failing for webhook_give_up_s is disabled with its reason.
    webhook_retry_base_s: float = 5.0
    webhook_retry_max_s: float = 900.0
    webhook_give_up_s: float = 7200.0
    # Seconds one process holds an endpoint while it delivers, beyond the longest attempt
    # (webhook_timeout_s): a killed process's endpoints are taken over after both.
    webhook_lease_s: float = 30.0
    # Seconds between looks for owed deliveries (events of this process wake it at once).
    webhook_poll_s: float = 1.0
    webhook_timeout_s: float = 10.0
    # Run the agenda/escalation scheduler in this process.
    scheduler: bool = True
    # Seconds between the scheduler's rescans of live sessions (finds work of other processes).
    scheduler_rescan_s: float = 30.0
    # Test-only endpoints (POST /api/v1/_test/clock moves server time). NEVER in production.
    test_hooks: bool = False
    log_level: str = "info"
    # Serve the interactive API pages /docs and /redoc (they load scripts from a CDN).
    api_docs: bool = False

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def extra_origins(self) -> set[str]:
        return {o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()}


@lru_cache
def get_settings() -> Settings:
    return Settings()

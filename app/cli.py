"""``backchannel serve | migrate | demo | export | purge | kinds``."""

import asyncio
import ipaddress
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from app.config import get_settings

if TYPE_CHECKING:
    from alembic.config import Config

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Backchannel server.")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str | None = None) -> "Config":
    """Alembic config found through the installed package, never the working directory."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url or get_settings().database_url)
    return cfg


def run_migrations(database_url: str | None = None) -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


@cli.command()
def kinds(
    check: bool = typer.Option(False, "--check", help="only say whether the file is current"),
) -> None:
    """Write web/kinds.json, what the pages know of each event kind, from app/models/kinds.py."""
    from app.models.kinds import pages_json

    target = Path(__file__).resolve().parent / "web" / "kinds.json"
    text = pages_json()
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if check:
        if current != text:
            typer.echo(f"{target} is out of date: run `backchannel kinds`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{target} is current")
        return
    if current != text:
        target.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {target}")


@cli.command()
def migrate() -> None:
    """Apply pending database migrations."""
    run_migrations()
    typer.echo("database is up to date")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(1, min=1, help="worker processes (more than 1 needs redis://)"),
    migrate_first: bool = typer.Option(
        True, "--migrate/--no-migrate", help="apply migrations first"
    ),
) -> None:
    """Apply pending migrations, then serve HTTP and WebSockets."""
    import uvicorn

    settings = get_settings()
    from app.realtime.backends import is_single_process

    if workers > 1 and is_single_process(settings.broker_url):
        typer.echo(
            "--workers > 1 needs BACKCHANNEL_BROKER_URL=redis://… (memory:// is one process)",
            err=True,
        )
        raise typer.Exit(2)
    if not settings.organizer_key and not _is_loopback(host):
        typer.echo(
            f"warning: serving on {host} with no BACKCHANNEL_ORGANIZER_KEY: anyone who can "
            f"reach it may create sessions (at most {settings.create_per_min}/min per address)",
            err=True,
        )
    if migrate_first:
        run_migrations()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn's websockets-sansio protocol, able to abort a peer that stops reading.
        ws="app.realtime.transport:AbortableWebSocketProtocol",
        ws_max_size=16 * 1024,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        proxy_headers=True,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _demo() -> dict[str, Any]:
    from app.db import Database
    from app.models.session import SessionCreate
    from app.presets import DEFAULT_PRESETS
    from app.sessions import create_session, link_for

    settings = get_settings()
    db = Database(settings.database_url)
    try:
        data = SessionCreate.model_validate(
            {
                "title": "Demo: Coaching conversations (virtual classroom)",
                "agenda": [
                    {"title": "Welcome and check-in", "minutes": 10},
                    {"title": "The GROW model", "minutes": 20},
                    {"title": "Breakout practice", "minutes": 25},
                    {"title": "Debrief and close", "minutes": 10},
                ],
                "roster": ["Maria Lopez", "Ahmed Khan", "Li Wei", "Sam Taylor", "Priya Nair"],
            }
        )
        created = await create_session(db, data, DEFAULT_PRESETS)
    finally:
        await db.close()
    base = settings.public_base
    return {
        "session_id": created.session.id,
        "links": {r: link_for(base, r, i.token) for r, i in created.issued.items()},
    }


@cli.command()
def demo() -> None:
    """Create a sample session and print its links."""
    run_migrations()
    result = asyncio.run(_demo())
    typer.echo(f"Demo session {result['session_id']} created.")
    for role, link in result["links"].items():
        typer.echo(f"  {role:<12} {link}")
    typer.echo(f"  debrief      {result['links']['producer'].replace('/producer#', '/debrief#')}")


async def _export(session_id: str) -> dict[str, Any]:
    from app.db import Database
    from app.export import build_export
    from app.session_model import SessionModels

    db = Database(get_settings().database_url)
    try:
        return await build_export(db, await SessionModels(db).current(session_id))
    finally:
        await db.close()


@cli.command()
def export(session_id: str) -> None:
    """Print the JSON export of a session."""
    from app.errors import NotFound

    try:
        data = asyncio.run(_export(session_id))
    except NotFound:
        typer.echo(f"no session {session_id!r}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


async def _purge(days: float) -> list[str]:
    from app import commands
    from app.clock import now_ms
    from app.db import Database
    from app.realtime.backends import from_url
    from app.realtime.notifiers import BrokerNotifier

    settings = get_settings()
    db = Database(settings.database_url)
    # Sockets still open on a server close with 4404, as for DELETE.
    broker = from_url(settings.broker_url).broker
    try:
        await broker.connect()
        return await commands.purge(db, BrokerNotifier(broker), now_ms() - int(days * 86_400_000))
    finally:
        await broker.disconnect()
        await db.close()


@cli.command()
def purge(
    ended_before: float = typer.Option(
        ...,
        "--ended-before",
        min=0,
        metavar="DAYS",
        help="erase the sessions that ended more than DAYS days ago (0: every ended session)",
    ),
) -> None:
    """Erase ended sessions, their participants and their logs. Live ones are kept."""
    erased = asyncio.run(_purge(ended_before))
    for session_id in erased:
        typer.echo(f"erased {session_id}")
    typer.echo(f"{len(erased)} session(s) erased")


def main() -> None:
    cli()

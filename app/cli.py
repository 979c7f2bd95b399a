"""``backchannel serve | migrate | demo | export``."""

import asyncio
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
    if workers > 1 and settings.broker_url.startswith("memory"):
        typer.echo(
            "--workers > 1 needs BACKCHANNEL_BROKER_URL=redis://… (memory:// is one process)",
            err=True,
        )
        raise typer.Exit(2)
    if migrate_first:
        run_migrations()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ws="websockets-sansio",
        ws_max_size=16 * 1024,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        proxy_headers=True,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )


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


def main() -> None:
    cli()

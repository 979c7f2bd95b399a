"""Schemathesis over ``/openapi.json`` against a real server: bad input (negative mode) gets
a 4xx and stores nothing; any input gets no 5xx and replies that fit the spec; the server
logs no traceback. Bounded: a few dozen cases per operation, well under a minute."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.storage import snapshot
from tests.support import Server

EXAMPLES_PER_OPERATION = 25
# What schemathesis counts as a refusal of negative data by default (schemathesis 4.x;
# its 5xx left out: a server error is never a refusal).
NEGATIVE_REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429"]
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]


def schemathesis(
    server: Server,
    workdir: Path,
    token: str,
    mode: str,
    phases: str,
    checks: str,
    more: tuple[str, ...] = (),
) -> None:
    argv = [
        *SCHEMATHESIS,
        "--config-file",
        str(workdir / "schemathesis.toml"),
        "run",
        f"{server.url}/openapi.json",
        *("--header", f"Authorization: Bearer {token}"),
        *("--mode", mode, "--phases", phases, "--checks", checks),
        *("--max-examples", str(EXAMPLES_PER_OPERATION), "--workers", "1"),
        # DELETE erases the session or revokes a link: the rest would then only see 401/404.
        *("--exclude-method", "DELETE"),
        *("--generation-database", "none", "--no-color", "--request-timeout", "20"),
        *more,
    ]
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"schemathesis ({mode}) found problems:\n{done.stdout[-6000:]}"


@pytest.fixture
def fuzzed_server(tmp_path: Path) -> Server:
    # Rate limits stay out of the way: the fuzzer should reach validation, not 429s.
    env = {
        "BACKCHANNEL_RATE_PER_S": "100000",
        "BACKCHANNEL_RATE_BURST": "100000",
        "BACKCHANNEL_HEAVY_READ_PER_S": "100000",
        "BACKCHANNEL_HEAVY_READ_BURST": "100000",
        "BACKCHANNEL_CREATE_PER_MIN": "1000000",
    }
    return Server(tmp_path, env=env)


async def test_the_http_api_survives_schemathesis(tmp_path: Path, fuzzed_server: Server) -> None:
    srv = fuzzed_server.start()
    try:
        created = httpx.post(
            f"{srv.url}/api/v1/sessions",
            json={
                "title": "Fuzzed",
                "agenda": [{"title": "One", "minutes": 10}],
                "roster": ["Maria", "Ahmed"],
            },
            timeout=10,
        ).json()
        sid, token = created["session"]["id"], created["tokens"]["producer"]
        # Every operation on the one session whose producer token we send, and a real preset.
        # A refusal may also be 413: a body over 64 KiB is refused before it is parsed
        # (app/api/body_limit.py); schemathesis's own list of refusals leaves 413 out.
        refusals = [*NEGATIVE_REFUSALS, "413"]
        (tmp_path / "schemathesis.toml").write_text(
            f'[parameters]\n"path.session_id" = "{sid}"\n"path.preset_id" = "five-min"\n'
            f"[checks.negative_data_rejection]\nexpected-statuses = {json.dumps(refusals)}\n"
        )
        before = await snapshot(srv.database_url)
        schemathesis(
            srv,
            tmp_path,
            token,
            mode="negative",
            phases="coverage,fuzzing",
            checks="not_a_server_error,negative_data_rejection,response_schema_conformance",
            # The preset send declares nothing to get wrong (its path ids are fixed above):
            # its "negative" cases are valid sends. The live feed never ends: a fuzzer would
            # only wait for it (tests/test_stream.py covers it).
            more=("--exclude-path-regex", "/send$|/stream$"),
        )
        assert await snapshot(srv.database_url) == before, "refused input changed stored data"
        schemathesis(
            srv,
            tmp_path,
            token,
            mode="positive",
            phases="examples,coverage,fuzzing",
            checks="not_a_server_error,response_schema_conformance,content_type_conformance",
            more=("--exclude-path-regex", "/stream$"),
        )
    finally:
        srv.stop()
    log = srv.log_text()
    assert "Traceback" not in log and '" 500' not in log, log[-4000:]

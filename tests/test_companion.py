"""The Bitfocus Companion module (integrations/companion) under node, against a real server."""

import os
import shutil
import subprocess
from pathlib import Path

from tests.support import ROOT, Server, skip_or_fail

MODULE = ROOT / "integrations" / "companion"


def test_the_companion_module_follows_a_live_session_and_drives_it(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("browser", "node is missing")
    if not (MODULE / "node_modules" / "@companion-module" / "base").is_dir():
        skip_or_fail("browser", "make e2e-deps installs integrations/companion's npm packages")
    server = Server(tmp_path).start()
    try:
        run = subprocess.run(
            [node, "--test", "test/"],
            cwd=MODULE,
            env={**os.environ, "BACKCHANNEL_URL": server.url},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# skipped 0" in run.stdout, run.stdout[-2000:]

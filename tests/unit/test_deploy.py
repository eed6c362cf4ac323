"""The team deployment recipe (deploy/compose.yaml) is a valid compose file naming the
topology the tests run natively: the app, PostgreSQL and a Chroma server, with health checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _docker_engine(), reason="no docker engine here: "
                    "`docker compose config` needs one to check deploy/compose.yaml")
def test_compose_file_is_valid_and_has_the_three_services(tmp_path):
    env = {"VA_ADMINS": "lead@example.org", "PATH": "/usr/bin:/usr/local/bin:/bin"}
    secrets = DEPLOY / "secrets"
    made = not secrets.exists()
    secrets.mkdir(exist_ok=True)
    for name in ("db_password.txt", "secrets.toml"):
        (secrets / name).touch()
    try:
        done = subprocess.run(["docker", "compose", "-f", str(DEPLOY / "compose.yaml"),
                               "config", "--services"], capture_output=True, text=True, env=env)
    finally:
        if made:
            shutil.rmtree(secrets)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"app", "db", "chroma"}

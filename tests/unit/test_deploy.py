"""The team deployment recipe (deploy/compose.yaml) is a valid compose file naming the
topology the tests run natively: the app, PostgreSQL and a Chroma server, with health checks.

Where no docker engine exists, the recipe is still checked against the code: every ``VA_*``
variable it sets is one the app reads, its defaults pass the app's own validation and point at
its services, and the image copies everything the app runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from va_app.config import Settings
from va_app.services.access import DEFAULT_ROLE_VARIABLE, ROLE_VARIABLES, role_assignments

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not _docker_engine(),
    reason="no docker engine here: `docker compose config` needs one to check deploy/compose.yaml",
)
def test_compose_file_is_valid_and_has_the_three_services(tmp_path):
    env = {"VA_ADMINS": "lead@example.org", "PATH": "/usr/bin:/usr/local/bin:/bin"}
    secrets = DEPLOY / "secrets"
    made = not secrets.exists()
    secrets.mkdir(exist_ok=True)
    for name in ("db_password.txt", "secrets.toml"):
        (secrets / name).touch()
    try:
        done = subprocess.run(
            ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--services"],
            capture_output=True,
            text=True,
            env=env,
        )
    finally:
        if made:
            shutil.rmtree(secrets)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"app", "db", "chroma"}


# -- checked without docker: the recipe against what the app reads --------------------------
def _compose() -> dict:
    import yaml  # PyYAML comes with chromadb

    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _value_with_defaults(raw: str, given: dict[str, str]) -> str:
    """``${NAME:-default}`` / ``${NAME:?message}`` / ``${NAME}`` as compose fills them in."""

    def fill(match: re.Match) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in given:
            return given[name]
        assert op != ":?", f"{name} must be given: {rest}"
        return rest if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", fill, str(raw))


def test_every_va_variable_the_compose_file_sets_is_one_the_app_reads():
    app_env = _compose()["services"]["app"]["environment"]
    read = {f"VA_{f.name.upper()}" for f in fields(Settings)}
    assert {*ROLE_VARIABLES, DEFAULT_ROLE_VARIABLE} <= read  # the roles are settings too
    unknown = sorted(name for name in app_env if name.startswith("VA_") and name not in read)
    assert not unknown, f"compose sets variables the app never reads: {unknown}"


def test_the_compose_defaults_start_the_app_and_point_at_its_services():
    compose = _compose()
    env = {
        name: _value_with_defaults(value, {"VA_ADMINS": "lead@example.org"})
        for name, value in compose["services"]["app"]["environment"].items()
    }
    settings = Settings.from_env(env)  # a bad value (an empty VA_ENCODER, ...) raises here
    roles = role_assignments(settings)
    assert roles.admins and roles.default_role.value == "viewer"
    db = compose["services"]["db"]["environment"]
    url = urlsplit(settings.database_url)
    assert (url.scheme, url.hostname, url.username, url.path.lstrip("/")) == (
        "postgresql+psycopg",
        "db",
        db["POSTGRES_USER"],
        db["POSTGRES_DB"],
    )
    assert settings.chroma_host == "chroma" and settings.chroma_port == 8000
    assert not settings.chroma_request_headers  # no token unless one is configured
    volumes = compose["services"]["app"]["volumes"]
    assert any(v.endswith(f":{settings.data_dir}") for v in volumes), volumes
    assert env["HF_HOME"].startswith(f"{settings.data_dir}/")  # fetched weights persist


def test_the_image_copies_everything_the_app_runs_and_every_source_exists():
    root = DEPLOY.parent
    copied = [
        line.split()[1:-1]
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    sources = [source for line in copied for source in line]
    missing = [s for s in sources if not (root / s).exists()]
    assert not missing, f"the Dockerfile copies what the repository does not have: {missing}"
    pages = re.findall(r'st\.Page\("([^"]+)"', (root / "app.py").read_text())
    needed = {"app.py", "va_app", ".streamlit/config.toml", *{p.split("/")[0] for p in pages}}
    assert needed <= set(sources), f"the image lacks {sorted(needed - set(sources))}"

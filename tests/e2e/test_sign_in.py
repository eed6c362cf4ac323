"""A real sign-in: Chromium signs in through a local OpenID Connect provider with ``st.login``.

The provider is ``oidc-provider-mock`` (a real OIDC server for tests) on a loopback port with
three predefined people; the app runs as a user starts it, with ``[auth]`` in a secrets file
written for this server and roles from ``VA_ADMINS`` / ``VA_ANNOTATORS`` / ``VA_VIEWERS``. Each
person signs in through the provider's own page and sees and may do what the README's role
table says; annotations carry the signed-in identity; signing out works.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import TESTER, open_services
from tests.e2e.conftest import BROWSER_TESTS, IDLE, StreamlitServer
from tests.servers import free_port, stop_process, wait_until_serving
from va_app.store.catalog import Catalog
from va_app.store.labels import LabelStore

pytestmark = BROWSER_TESTS
expect = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
).expect
pytest.importorskip("oidc_provider_mock", reason="oidc-provider-mock is not installed")

LABEL = "night"
PEOPLE = {  # subject -> claims; the role comes from the VA_* variables below
    "ada": {"sub": "ada", "email": "ada@example.org", "name": "Ada Admin"},
    "ann": {"sub": "ann", "email": "ann@example.org", "name": "Ann Annotator"},
    "vic": {"sub": "vic", "email": "vic@example.org", "name": "Vic Viewer"},
}
# The button cards (the keyboard grid's roles are tested in tests/app and test_keyboard_grid).
ROLES = {
    "VA_ADMINS": "ada@example.org",
    "VA_ANNOTATORS": "ann@example.org",
    "VA_VIEWERS": "*",
    "VA_CARD_GRID": "buttons",
}
POSITIVE = '[class*="st-key-pos-search-"] button'


@pytest.fixture(scope="module")
def provider(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    command = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port)]
    for claims in PEOPLE.values():
        command += ["--user-claims", json.dumps(claims)]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(
            process,
            f"{issuer}/.well-known/openid-configuration",
            log=log,
            name="oidc-provider-mock",
            timeout_s=60,
        )
        yield issuer
    finally:
        stop_process(process, timeout_s=15)


@pytest.fixture
def app(e2e_settings, provider, tmp_path) -> Iterator[StreamlitServer]:
    open_services(e2e_settings).labelling.create_label(TESTER, LABEL, created_by="ada@example.org")
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-long-random-string-for-this-test-only"\n'
        'client_id = "video-annotator"\n'
        'client_secret = "test-client-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    server = StreamlitServer(
        e2e_settings.data_dir,
        tmp_path / "streamlit.log",
        port=port,
        env=ROLES,
        args=("--secrets.files", str(secrets)),
    ).start()
    yield server
    server.stop()


def _idle(page) -> None:
    page.wait_for_selector(IDLE)
    assert page.locator('[data-testid="stException"]').count() == 0


def sign_in(page, app: StreamlitServer, subject: str) -> None:
    page.goto(app.url)
    _idle(page)
    page.locator(".st-key-login button").click()
    # The provider's own page: pick the predefined person.
    page.locator(f'button[name="sub"][value="{subject}"]').click()
    page.wait_for_url(f"{app.url}/**")
    _idle(page)
    person = PEOPLE[subject]
    page.get_by_text(f"Signed in as {person['name']}").wait_for()


def sign_out(page, app: StreamlitServer) -> None:
    page.locator(".st-key-logout button").click()
    # Streamlit may end the provider's session too (RP-initiated logout): confirm it there.
    page.locator('.st-key-login button, button:has-text("End session")').first.wait_for()
    if page.get_by_role("button", name="End session").count():
        page.get_by_role("button", name="End session").click()
    page.locator(".st-key-login button").wait_for()
    page.get_by_text("Not signed in").first.wait_for()


def _open(page, app: StreamlitServer, path: str) -> None:
    page.goto(f"{app.url}/{path}?label={LABEL}")
    _idle(page)


def _history(app: StreamlitServer):
    catalog = Catalog(f"sqlite:///{app.data_dir / 'catalog.sqlite'}")
    try:
        return LabelStore(catalog).history(LABEL)
    finally:
        catalog.close()


def test_each_role_signs_in_and_may_do_what_the_role_table_says(app, browser, provider):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)

    sign_in(page, app, "vic")  # viewer: looks at every page, changes nothing
    assert page.get_by_text("viewer").count() >= 1
    _open(page, app, "search")
    page.locator('[data-testid="stImage"]').first.wait_for()
    assert page.locator(POSITIVE).count() == 0
    _open(page, app, "learn")
    builds = page.locator(".st-key-build button")
    builds.first.wait_for()
    assert builds.count() and all(builds.nth(i).is_disabled() for i in range(builds.count()))
    sign_out(page, app)
    context.close()

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, app, "ann")  # annotator: annotates as herself, cannot delete labels
    _open(page, app, "")
    page.locator(".st-key-delete_label button").first.wait_for(state="attached")
    assert page.locator(".st-key-delete_label button").first.is_disabled()
    _open(page, app, "search")
    page.locator(POSITIVE).first.click()
    page.locator(
        '[class*="st-key-pos-search-"] [data-testid="stBaseButton-primary"]'
    ).first.wait_for()
    _idle(page)
    assert [(a.annotator, a.value) for a in _history(app)] == [("ann@example.org", True)]
    context.close()

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, app, "ada")  # admin: may delete a label
    _open(page, app, "")
    page.locator('[data-testid="stExpander"]').filter(
        has=page.locator(".st-key-delete_label")
    ).locator("summary").click()
    page.locator(".st-key-delete_label button").first.wait_for()
    assert page.locator(".st-key-delete_label button").first.is_disabled()  # until confirmed
    page.locator(".st-key-confirm_delete label").click()
    expect(page.locator(".st-key-confirm_delete input")).to_be_checked()
    expect(page.locator(".st-key-delete_label button").first).to_be_enabled()  # after the rerun
    page.locator(".st-key-delete_label button").first.click()
    # What the admin sees once the delete has run (the page may still look idle right after
    # the click, before its rerun starts).
    expect(page.get_by_text("Deleted 'night' and all its annotations.")).to_be_visible()
    catalog = Catalog(f"sqlite:///{app.data_dir / 'catalog.sqlite'}")
    try:
        assert LabelStore(catalog).labels() == []
    finally:
        catalog.close()
    sign_out(page, app)
    context.close()

"""The vector index on a real Chroma server (``chroma run`` on a loopback port, HttpClient).

Ingest, text and "more like this" search through the index, metadata filters, ``reindex``, and
two processes plus an ingest sharing one server, each seeing the others' writes; and the auth
header a deployment configures (``VA_CHROMA_TOKEN``) reaching the server through a
token-checking reverse proxy like the one the README recommends in front of Chroma.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import open_services
from tests.servers import ChromaServer, chroma_cli, free_port
from tests.videogen import make_cut_video
from va_app.config import Settings
from va_app.encoders import make_encoder
from va_app.errors import StoreError
from va_app.ingest import ingest
from va_app.search.shots import PATH_INDEX, SearchFilters, ShotSearch
from va_app.store.index import VectorIndex

ROOT = Path(__file__).resolve().parents[2]
CUTS = [0, 30, 75, 120]
METADATA = (
    "file,title,genre,tags\n"
    "harbour.mp4,Harbour at night,drama,boats;night\n"
    "market.mp4,Market at noon,documentary,food\n"
)
TOKEN = "s3cret-token"
_collections = itertools.count()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chroma(tmp_path_factory) -> Iterator[ChromaServer]:
    if chroma_cli() is None:
        pytest.skip("no `chroma` command next to python (the chromadb package installs it)")
    root = tmp_path_factory.mktemp("chroma-server")
    server = ChromaServer(root / "db", root / "chroma.log").start()
    yield server
    server.stop()


def _settings(data_dir: Path, port: int, collection: str, **extra) -> Settings:
    return Settings(
        data_dir=data_dir,
        encoder="descriptor",
        chroma_host="127.0.0.1",
        chroma_port=port,
        chroma_collection=collection,
        **extra,
    )


@pytest.fixture
def settings(tmp_path, chroma) -> Settings:
    """A corpus whose index is a fresh collection on the shared server."""
    return _settings(tmp_path / "data", chroma.port, f"shots-{next(_collections)}")


def _videos(folder: Path, names: list[str], seed: int = 0) -> Path:
    for i, name in enumerate(names):
        make_cut_video(folder / name, cuts=CUTS, seed=seed + i)
    (folder / "metadata.csv").write_text(METADATA, encoding="utf-8")
    return folder


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VA_DATA_DIR": str(settings.data_dir),
        "VA_ENCODER": "descriptor",
        "VA_CHROMA_HOST": settings.chroma_host,
        "VA_CHROMA_PORT": str(settings.chroma_port),
        "VA_CHROMA_COLLECTION": settings.chroma_collection,
    }


def test_ingest_search_similar_filters_and_reindex_through_the_server(tmp_path, settings):
    report = ingest(settings, _videos(tmp_path / "videos", ["harbour.mp4", "market.mp4"]))
    assert report.added_shots == 6
    assert not (settings.data_dir / "chroma").exists()  # nothing embedded: it is all served
    ws = open_services(settings)
    try:
        assert ws.corpus.consistency().ok and ws.corpus.index.count() == 6
        search = ShotSearch.from_corpus(ws.corpus, ws.view.matrix, exact_max_values=0)
        assert search.index_in_step and search.plan(3) == PATH_INDEX
        first = ws.view.matrix.ids[0]
        similar = search.similar_to(first, 3)
        exact = np.argsort(-(ws.view.matrix.X @ ws.view.matrix.X[0]), kind="stable")[1:4]
        assert [h.shot_id for h in similar] == [ws.view.matrix.ids[i] for i in exact]
        text = search.search_text("night boats", make_encoder(settings), 5)
        assert {h.shot_id.split("|")[0] for h in text.hits} == {"harbour"}
        only_market = search.similar_to(first, 5, filters=SearchFilters(genres=("documentary",)))
        assert {h.shot_id.split("|")[0] for h in only_market} == {"market"}

        ws.corpus.index.reset()  # the server lost the collection: reindex rebuilds it
        assert ws.corpus.index.count() == 0
        assert ws.corpus.reindex() == 6 and ws.corpus.consistency().ok
        assert ws.corpus.index.query(ws.view.matrix.X[0], 1)[0].id == first
    finally:
        ws.close()


NEIGHBOURS = """
import json, sys
import numpy as np
from va_app.config import Settings
from va_app.store.corpus import Corpus
from va_app.store.opening import open_corpus
settings = Settings.from_env()
corpus = open_corpus(settings) if "--repair" in sys.argv else Corpus(settings)
ids, X = corpus.matrix.load()
print(json.dumps({"count": corpus.index.count(),
                  "nearest": {i: corpus.index.query(X[r], 1)[0].id for r, i in enumerate(ids)}}))
"""


def _other_process(settings: Settings, *flags: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", NEIGHBOURS, *flags],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_processes_and_an_ingest_share_one_server_and_see_each_others_writes(
    tmp_path, settings
):
    videos = _videos(tmp_path / "videos", ["harbour.mp4"])
    ingest(settings, videos)
    long_lived = VectorIndex.from_settings(settings)  # an app process, open all along
    assert long_lived.count() == 3
    assert _other_process(settings)["count"] == 3

    make_cut_video(videos / "market.mp4", cuts=CUTS, seed=5)
    done = subprocess.run(
        [sys.executable, "-m", "va_app", "ingest", str(videos)],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    seen = _other_process(settings)  # a second process sees the ingest's vectors
    assert seen["count"] == 6
    assert all(found == shot for shot, found in seen["nearest"].items())
    ws = open_services(settings)
    try:  # and the process that stayed open sees them too, without reopening anything
        market = [i for i in ws.view.matrix.ids if i.startswith("market|")]
        row = ws.view.matrix.ids.index(market[0])
        assert long_lived.count() == 6
        assert long_lived.query(ws.view.matrix.X[row], 1)[0].id == market[0]
        long_lived.delete([market[1]])  # a write from this process ...
        assert _other_process(settings)["count"] == 5  # ... is seen by the others at once
        assert _other_process(settings, "--repair")["count"] == 6  # opening the corpus heals it
        assert long_lived.count() == 6
    finally:
        ws.close()
        long_lived.close()


class TokenCheckingProxy:
    """A reverse proxy in front of Chroma that answers 401 without the right bearer token."""

    def __init__(self, upstream_port: int, token: str) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                return None

            def _forward(self) -> None:
                proxy.seen.append(self.headers.get("Authorization", ""))
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "authorization", "connection")
                }
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TokenCheckingProxy:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_configured_token_reaches_the_server_through_a_checking_proxy(tmp_path, chroma):
    collection = f"shots-{next(_collections)}"
    with TokenCheckingProxy(chroma.port, TOKEN) as proxy:
        env = {
            "VA_CHROMA_HOST": "127.0.0.1",
            "VA_CHROMA_PORT": str(proxy.port),
            "VA_CHROMA_COLLECTION": collection,
            "VA_CHROMA_TOKEN": TOKEN,
        }
        settings = Settings.from_env(env, data_dir=tmp_path / "data")
        assert TOKEN not in repr(settings)  # never printed with the settings
        index = VectorIndex.from_settings(settings)
        x = np.eye(4, dtype=np.float32)
        index.add([f"v|{i}" for i in range(4)], x)
        assert index.query(x[2], 1)[0].id == "v|2" and index.count() == 4
        index.close()
        assert proxy.seen and set(proxy.seen) == {f"Bearer {TOKEN}"}

        unauthorised = VectorIndex.from_settings(
            Settings.from_env(
                {k: v for k, v in env.items() if k != "VA_CHROMA_TOKEN"}, data_dir=tmp_path / "d2"
            )
        )
        with pytest.raises(StoreError, match="could not be opened"):
            unauthorised.count()
    direct = VectorIndex(host="127.0.0.1", port=chroma.port, collection=collection)
    assert direct.count() == 4  # the writes went through the proxy to the real server
    direct.close()


def test_malformed_chroma_headers_fail_at_start_with_the_fix(tmp_path):
    from va_app.errors import ConfigError

    with pytest.raises(ConfigError, match="JSON object"):
        Settings.from_env({"VA_CHROMA_HEADERS": "X-Api-Key: abc"}, data_dir=tmp_path)
    headers = Settings.from_env(
        {"VA_CHROMA_HEADERS": '{"X-Api-Key": "abc"}', "VA_CHROMA_TOKEN": "t"}, data_dir=tmp_path
    )
    assert headers.chroma_request_headers == {"X-Api-Key": "abc", "Authorization": "Bearer t"}

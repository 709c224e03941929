"""The client reads the bulk stream over its own http.client connection: the same rows as
the engine, shards, the token sent, and problems raised as ApiError."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pytest

from datalake.raw.bulk import read_bulk
from datalake.demo.generate import generate
from datalake.lake import Lake
from service.auth import Token, TokenStore, hash_token
from client import ApiError, MeterlakeClient

from .server import serve

START, END = "2018-06-01", "2018-06-02"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake.create(tmp_path_factory.mktemp("client-stream") / "lake")
    generate(lake, icps=1500, days=2, start=dt.date(2018, 6, 1), seed=11)  # two batches
    return lake


def engine(lake: Lake, **kwargs):
    return read_bulk(lake, START, END, **kwargs).reader().read_all()


@pytest.fixture(scope="module")
def served(indexed: Lake) -> Iterator[str]:
    with serve(indexed.root) as url:
        yield url


def test_reads_equal_the_engine(indexed: Lake, served: str) -> None:
    with MeterlakeClient(served) as client:
        assert client._direct
        got = client.reads(START, END)
        assert got.num_rows >= 40 * 2 * 48
        assert got.equals(engine(indexed))
        shards = [client.reads(START, END, shard=(k, 3)) for k in range(3)]
        assert sum(s.num_rows for s in shards) == got.num_rows
        assert shards[1].equals(engine(indexed, shard="1/3"))
        assert client.reads(START, START, direction="X").equals(
            read_bulk(indexed, START, START, direction="X").reader().read_all())


def test_problems_raise_api_errors(served: str) -> None:
    with MeterlakeClient(served) as client:
        with pytest.raises(ApiError) as e:
            list(client.iter_reads("2018-06-02", "2018-06-01"))
        assert e.value.status == 400 and e.value.code == "invalid_argument"
        with pytest.raises(ApiError) as e:
            list(client.iter_reads(START, END, shard="5/2"))
        assert e.value.status == 400 and e.value.problem["field"] == "shard"


def test_the_token_goes_with_the_stream(indexed: Lake) -> None:
    tokens = TokenStore([Token("algo", "read", hash_token("s3cret")),
                         Token("ops", "admin", hash_token("0ps", "scrypt"))])
    with serve(indexed.root, tokens=tokens) as url:
        with MeterlakeClient(url) as anonymous, pytest.raises(ApiError) as e:
            list(anonymous.iter_reads(START, END))
        assert e.value.status == 401
        for secret in ("s3cret", "0ps", "0ps"):  # sha256; scrypt checked in a thread, then remembered
            with MeterlakeClient(url, token=secret) as client:
                assert client.reads(START, START).num_rows == engine(indexed).num_rows // 2
        with MeterlakeClient(url, token="wrong") as client, pytest.raises(ApiError) as e:
            list(client.iter_reads(START, END))
        assert e.value.status == 401


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_compressed_stream(indexed: Lake, served: str, codec: str) -> None:
    with MeterlakeClient(served) as client:
        assert client.reads(START, END, compression=codec).equals(engine(indexed))
        plain = client.http.get("/v1/reads", params={"start": START, "end": START, "format": "arrow"}).content
        packed = client.http.get("/v1/reads", params={"start": START, "end": START, "format": "arrow",
                                                      "compression": codec}).content
        assert len(packed) < len(plain)
        with pytest.raises(ApiError) as e:
            client._get("/v1/reads", {"start": START, "end": START, "format": "csv", "compression": codec})
        assert e.value.status == 400 and e.value.problem["field"] == "compression"


def test_dictionary_stream(indexed: Lake, served: str) -> None:
    """icp_id and direction as dictionaries: the same rows, each dictionary sent once, fewer
    bytes; compression on top still works; CSV refuses the option."""
    plain_schema = engine(indexed).schema
    with MeterlakeClient(served) as client:
        got = client.reads(START, END, dictionary=True)
        assert pa.types.is_dictionary(got.schema.field("icp_id").type)
        assert pa.types.is_dictionary(got.schema.field("energy_flow_direction").type)
        assert got.num_rows == engine(indexed).num_rows
        assert got.cast(plain_schema).equals(engine(indexed))
        assert client.reads(START, END, dictionary=True, shard=(2, 3)).cast(plain_schema).equals(
            engine(indexed, shard="2/3"))
        assert client.reads(START, END, dictionary=True, compression="lz4").cast(plain_schema).equals(
            engine(indexed))
        window = {"start": START, "end": END, "format": "arrow"}
        plain = client.http.get("/v1/reads", params=window).content
        small = client.http.get("/v1/reads", params={**window, "dictionary": "true"}).content
        assert len(small) < 0.8 * len(plain)
        messages = list(pa.ipc.open_stream(small))
        assert len(messages) > 1 and pa.Table.from_batches(messages).cast(plain_schema).equals(engine(indexed))
        with pytest.raises(ApiError) as e:
            client._get("/v1/reads", {"start": START, "end": START, "format": "csv", "dictionary": "true"})
        assert e.value.status == 400 and e.value.problem["field"] == "dictionary"


def test_a_client_that_leaves_mid_stream_does_not_harm_the_server(tmp_path) -> None:
    import socket
    from urllib.parse import urlsplit

    lake = Lake.create(tmp_path / "lake")
    generate(lake, icps=300, days=4, start=dt.date(2018, 6, 1), seed=12)  # ~7 MB of Arrow: many pieces
    expected = read_bulk(lake, "2018-06-01", "2018-06-04").reader().read_all().num_rows
    with serve(lake.root) as url:
        where = urlsplit(url)
        for _ in range(3):
            with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
                sock.sendall(b"GET /v1/reads?start=2018-06-01&end=2018-06-04 HTTP/1.1\r\nHost: x\r\n"
                             b"Accept: application/vnd.apache.arrow.stream\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # then hang up with most unread
        with MeterlakeClient(url) as client:
            assert client.reads("2018-06-01", "2018-06-04").num_rows == expected
            assert client.http.get("/healthz").status_code == 200

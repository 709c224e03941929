"""A small typed client of the HTTP API for the algorithm and scripts.

    with MeterlakeClient("http://127.0.0.1:8000") as ml:
        for batch in ml.iter_reads("2018-06-01", "2018-06-14", shard=(0, 4)):
            ...
        run = ml.upload_run(table_or_polars_frames, start="2018-06-01", end="2018-06-14",
                            algorithm="matcher", version="1.2")
        ml.summary("0000012345TR9A1", start="2018-06-01", end="2018-06-14", buyer_seller="buyer")

Imports nothing from the server side (only httpx and pyarrow; Polars frames are accepted
when Polars is installed). Errors raise ``ApiError`` carrying the problem details."""
from __future__ import annotations

import collections
import http.client
import io
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import httpx
import pyarrow as pa
import pyarrow.ipc as ipc

from .errors import ApiError
from .flight import FlightTransport
from .wire import DateLike, Frame, _arrow_table, _Body, _body, _check, _empty_reads, _params, _ResponseFile, _table


class MeterlakeClient:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 300.0,
                 http: httpx.Client | None = None, flight: str | None = None) -> None:
        """``token``: a bearer token (``meterlake token create``), needed when the server has tokens.
        ``flight``: the Flight location (``grpc://host:8815``) for ``transport="flight"``;
        by default asked of the server (``GET /v1/flight``) when first needed."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._token, self._flight_location, self._flight = token, flight, None
        # Streams go over a plain http.client connection when the client owns its
        # transport (a socket to base_url); an injected httpx client is used as it is.
        self._direct = http is None
        self._timeout = timeout
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout, headers=headers)

    def __enter__(self) -> MeterlakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()
        if self._flight is not None:
            self._flight.close()

    def flight(self) -> FlightTransport:
        """The Flight connection of ``transport="flight"``, opened on first use."""
        if self._flight is None:
            location = self._flight_location
            if location is None:
                where = _check(self.http.get("/v1/flight")).json()
                location = FlightTransport.location_of(str(self.http.base_url), where["port"], where["tls"])
            self._flight = FlightTransport(location, self._token, self._timeout)
        return self._flight

    # -- raw reads ---------------------------------------------------------------------

    def icp_reads(self, icp_id: str, start: DateLike, end: DateLike, *, direction: str | None = None,
                  as_of: str | None = None) -> pa.Table:
        """Raw reads of one ICP (decimal128 values, UTC timestamps), in time order."""
        params = _params(start=start, end=end, direction=direction, as_of=as_of, format="arrow")
        return _table(self._get(f"/v1/icps/{icp_id}/reads", params))

    def iter_reads(self, start: DateLike, end: DateLike, *, direction: str | None = None,
                   as_of: str | None = None, shard: tuple[int, int] | str | None = None,
                   compression: Literal["lz4", "zstd"] | None = None,
                   dictionary: bool = False, fields: Literal["all"] | None = None,
                   transport: Literal["http", "flight"] = "http") -> Iterator[pa.RecordBatch]:
        """Raw reads of every ICP (or shard ``(k, n)``), batch by batch as they arrive,
        ordered by icp_id then time. ``compression`` asks for compressed batches (fewer
        bytes over a network, more CPU at both ends; no gain on loopback). ``dictionary``
        asks for icp_id and energy_flow_direction as dictionary arrays (a third fewer bytes,
        less work at both ends). ``fields="all"`` adds each read's ingest_id and the
        attributes its delivery gave it (EIEP reading type, stream, register, file).
        ``transport="flight"`` reads the same rows by Flight DoGet (``compression`` is
        HTTP's only)."""
        if isinstance(shard, tuple):
            shard = f"{shard[0]}/{shard[1]}"
        if transport == "flight":
            fields = {"start": str(start), "end": str(end), "direction": direction, "as_of": as_of, "shard": shard,
                      "dictionary": dictionary or None, "fields": fields}
            yield from self.flight().iter_batches({"reads": {k: v for k, v in fields.items() if v is not None}})
            return
        params = _params(start=start, end=end, direction=direction, as_of=as_of, shard=shard, format="arrow",
                         compression=compression, dictionary="true" if dictionary else None, fields=fields)
        yield from self._stream("/v1/reads", params)

    def _stream(self, path: str, params: dict) -> Iterator[pa.RecordBatch]:
        """The record batches of an Arrow stream, as they arrive."""
        if not self._direct:
            with self.http.stream("GET", path, params=params) as response:
                _check(response)
                yield from ipc.open_stream(io.BufferedReader(_Body(response.iter_bytes())))
            return
        # pyarrow reads the body straight from http.client's response, each message into one
        # buffer of its own (``_ResponseFile``): httpx parses a chunked body 64 KiB at a time in Python, which
        # made the client the slowest part of a bulk read.
        request = self.http.build_request("GET", path, params=params)
        url = request.url
        connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(url.host, url.port, timeout=self._timeout)
        try:
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in ("host", "connection", "accept-encoding")}
            connection.request("GET", url.raw_path.decode("ascii"), headers=headers)
            response = connection.getresponse()
            if not 200 <= response.status < 300:
                body = response.read()
                try:
                    problem = json.loads(body)
                except ValueError:
                    problem = {"detail": body.decode(errors="replace")}
                raise ApiError(response.status, problem if isinstance(problem, dict) else {"detail": str(problem)})
            yield from ipc.open_stream(_ResponseFile(response))
        finally:
            connection.close()

    def reads(self, start: DateLike, end: DateLike, **kwargs: Any) -> pa.Table:
        """``iter_reads`` collected into one table."""
        batches = list(self.iter_reads(start, end, **kwargs))
        return pa.Table.from_batches(batches) if batches else _empty_reads(kwargs.get("dictionary", False))

    def ingest(self, body: bytes | Frame, *, content_type: str | None = None, source_name: str | None = None,
               on_error: Literal["fail", "quarantine"] = "fail") -> dict:
        """Ingest a delivery: file bytes (CSV, Parquet or Arrow) or a table of text columns."""
        content, ctype = _body(body, content_type)
        response = self.http.post("/v1/reads", content=content, headers={"Content-Type": ctype},
                                  params=_params(source_name=source_name, on_error=on_error))
        return _check(response).json()

    # -- runs --------------------------------------------------------------------------

    def create_run(self, *, start: DateLike, end: DateLike, algorithm: str, version: str,
                   params: dict | None = None, raw_as_of: str | None = None) -> dict:
        body = {"start": str(start), "end": str(end), "algorithm": algorithm, "version": version,
                "params": params, "raw_as_of": raw_as_of}
        return _check(self.http.post("/v1/runs", json=body)).json()

    def upload_part(self, run_id: str, part: int, data: bytes | Frame, *, content_type: str | None = None,
                    source_name: str | None = None, transport: Literal["http", "flight"] = "http") -> dict:
        """Upload one part: a table or Polars frame in the brief's output columns, or file bytes
        (HTTP only). ``transport="flight"`` sends the frame by Flight DoPut."""
        if transport == "flight":
            return self.flight().put_part(run_id, part, _arrow_table(data), source_name)
        content, ctype = _body(data, content_type)
        response = self.http.put(f"/v1/runs/{run_id}/parts/{part}", content=content,
                                 headers={"Content-Type": ctype}, params=_params(source_name=source_name))
        return _check(response).json()

    def publish_run(self, run_id: str, *, allow_partial: bool = False, stage: Literal["latest", "candidate"] = "latest",
                    transport: Literal["http", "flight"] = "http") -> dict:
        """Publish an open run; ``allow_partial`` publishes it even if dates or raw ICPs of its
        window have no output; ``stage="candidate"`` makes it readable by its id only, until
        ``promote_run``."""
        if transport == "flight":
            return self.flight().publish(run_id, allow_partial=allow_partial, stage=stage)
        params = _params(allow_partial="true" if allow_partial else None, stage=None if stage == "latest" else stage)
        return _check(self.http.post(f"/v1/runs/{run_id}/publish", params=params)).json()

    def promote_run(self, run_id: str, *, force: bool = False, alias: str | None = None) -> dict:
        """Make a published candidate answer latest (its checks must pass unless ``force``);
        ``alias`` points that alias at it too. Needs an admin token."""
        params = _params(force="true" if force else None, alias=alias)
        return _check(self.http.post(f"/v1/runs/{run_id}/promote", params=params)).json()

    def set_alias(self, name: str, run_id: str) -> dict:
        """Point alias ``name`` at a published run (admin); the alias record, with its history."""
        return _check(self.http.put(f"/v1/aliases/{name}", json={"run_id": run_id})).json()

    def list_aliases(self) -> list[dict]:
        return _check(self.http.get("/v1/aliases")).json()["items"]

    def get_alias(self, name: str) -> dict:
        return _check(self.http.get(f"/v1/aliases/{name}")).json()

    def delete_alias(self, name: str) -> dict:
        """Delete alias ``name`` (admin); the record, its history kept."""
        return _check(self.http.delete(f"/v1/aliases/{name}")).json()

    def retract_run(self, run_id: str) -> dict:
        return _check(self.http.post(f"/v1/runs/{run_id}/retract")).json()

    def abort_run(self, run_id: str) -> dict:
        return _check(self.http.delete(f"/v1/runs/{run_id}")).json()

    def get_run(self, run_id: str) -> dict:
        return _check(self.http.get(f"/v1/runs/{run_id}")).json()

    def list_runs(self, *, status: str | None = None, start: DateLike | None = None,
                  end: DateLike | None = None) -> list[dict]:
        """Every matching run record, following pages."""
        items: list[dict] = []
        cursor = None
        while True:
            page = _check(self.http.get("/v1/runs", params=_params(status=status, start=start, end=end,
                                                                    cursor=cursor, limit=1000))).json()
            items += page["items"]
            if not (cursor := page["next_cursor"]):
                return items

    def upload_parts(self, run_id: str, parts: Iterable[bytes | Frame], *, content_type: str | None = None,
                     concurrency: int = 1) -> list[dict]:
        """Upload ``parts`` as parts 1, 2, ... of an open run, ``concurrency`` at a time (the
        server validates each part on its own, so parts in flight together use its workers
        side by side). Returns the parts' entries in order; the first failure is raised."""
        if concurrency <= 1:
            return [self.upload_part(run_id, n, data, content_type=content_type)
                    for n, data in enumerate(parts, start=1)]
        done: list[dict] = []
        pending: collections.deque = collections.deque()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for n, data in enumerate(parts, start=1):  # at most `concurrency` parts held at once
                if len(pending) >= concurrency:
                    done.append(pending.popleft().result())
                pending.append(pool.submit(self.upload_part, run_id, n, data, content_type=content_type))
            done += [f.result() for f in pending]
        return done

    def upload_run(self, parts: Iterable[Frame], *, start: DateLike, end: DateLike, algorithm: str,
                   version: str, params: dict | None = None, raw_as_of: str | None = None,
                   publish: bool = True, concurrency: int = 1, allow_partial: bool = False,
                   stage: Literal["latest", "candidate"] = "latest") -> dict:
        """Open a run, upload each frame as a part (1, 2, ...), ``concurrency`` at a time, and
        publish it (as ``stage``); the run is aborted if an upload fails."""
        run = self.create_run(start=start, end=end, algorithm=algorithm, version=version, params=params,
                              raw_as_of=raw_as_of)
        try:
            self.upload_parts(run["run_id"], parts, concurrency=concurrency)
        except BaseException:
            self.abort_run(run["run_id"])
            raise
        return (self.publish_run(run["run_id"], allow_partial=allow_partial, stage=stage) if publish
                else self.get_run(run["run_id"]))

    # -- output ------------------------------------------------------------------------

    def summary(self, icp_id: str, *, start: DateLike | None = None, end: DateLike | None = None,
                buyer_seller: str | None = None, granularity: str = "day", run: str = "latest",
                page_size: int = 10_000) -> pa.Table:
        """One ICP's output by period and buyer_seller, every page fetched and joined."""
        tables = []
        cursor = None
        while True:
            response = self._get(f"/v1/icps/{icp_id}/output/summary", _params(
                start=start, end=end, buyer_seller=buyer_seller, granularity=granularity, run=run,
                limit=page_size, cursor=cursor, format="arrow"))
            tables.append(_table(response))
            if not (cursor := response.headers.get("x-next-cursor")):
                return pa.concat_tables(tables)

    def output(self, start: DateLike, end: DateLike, *, by: Iterable[str] = ("icp_id", "buyer_seller"),
               run: str = "latest", buyer_seller: str | None = None) -> pa.Table:
        """Output for a date range by key, every row (one Arrow stream)."""
        return _table(self._get("/v1/output", _params(start=start, end=end, by=",".join(by), run=run,
                                                      buyer_seller=buyer_seller, format="arrow")))

    def _get(self, path: str, params: dict) -> httpx.Response:
        return _check(self.http.get(path, params=params))

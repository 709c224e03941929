"""Raw reads: one ICP, all ICPs (bulk, streamed), and ingest of a delivery."""
from __future__ import annotations

import functools
from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream

from datalake.raw.asof import resolve_as_of
from datalake.raw.attributes import with_attributes
from datalake.raw.bulk import read_bulk
from datalake.raw.ingest import ingest_file
from datalake.raw.reads import read_icp
from datalake.storage.location import is_local

from ..auth import requires
from ..encoding import check_arrow_only, etag, not_modified, stream_response, table_response
from ..negotiation import STREAMED, negotiate
from ..openapi import ReadsUploadOperation, StreamOperation, TabularOperation, not_modified_response
from ..problems import problem_responses
from ..structs import IcpReads, Ingest
from ..uploads import received_file
from .params import (ActorDep, AsOf, Compression, Dictionary, Direction, End, FormatParam, IcpId, ServicesDep, Shard,
                     Start, as_parameter, check_span)

Fields = Annotated[Literal["default", "all"], Parameter(
    description="all: also the ingest_id of each read's value and the attributes its delivery gave it "
                "(EIEP files: stream_id, register_content_code, reading_type, file_type, file_identifier, "
                "file_status, offset_inferred; null for other formats; see docs/eiep.md)")]
SNAPSHOT_HEADER = "X-Raw-Snapshot"
SNAPSHOT_DOC = ResponseHeader(name=SNAPSHOT_HEADER, required=False, documentation_only=True,
                              description="the ingest id of the raw snapshot read (absent for an empty lake)")


class ReadsController(Controller):
    tags = ["raw reads"]

    @get("/v1/icps/{icp_id:str}/reads", operation_class=TabularOperation,
         responses={**not_modified_response(), **problem_responses(404, 406, 504)},
         response_headers=[SNAPSHOT_DOC], **requires("read"))
    async def icp_reads(self, request: Request, svc: ServicesDep, icp_id: IcpId,
                  start: Start, end: End,
                  direction: Direction = None, as_of: AsOf = None, fields: Fields = "default",
                  format: FormatParam = None) -> Response[IcpReads]:
        """Raw reads of one ICP for trading dates start..end, in time order: the latest
        revision of each read as of `as_of` (an ingest id, or a time: the last ingest committed
        at or before it; a time before the first ingest is a 404, one in the future a 400).
        An ICP with no data is an empty list. The result is fixed by its snapshot (the ingest
        `as_of` resolved to), so it carries a strong ETag. At most
        `max_icp_days` dates (731 by default) per request."""
        lake, db, settings = svc
        fmt = negotiate(request, format)
        check_span(start, end, settings.max_icp_days, "one ICP's reads")
        with as_parameter("as_of", as_of, "ingest_id"):
            snapshot = resolve_as_of(lake, as_of) or lake.head_ingest()
        tag = etag("icp_reads", snapshot, icp_id, start, end, direction, fmt, fields) if snapshot else None
        if cached := not_modified(request, tag):
            return cached
        reads = functools.partial(_icp_reads, lake, icp_id, start, end, direction, snapshot, fields == "all")
        # A local lake's blocks of one ICP are read in about a millisecond, less than a hand-off
        # to a thread costs a worker (25% more requests a second under 16 clients): on the event
        # loop. An object store's range requests, and the attributes files, wait in a thread.
        table = reads() if is_local(lake.root) and fields == "default" else await sync_to_thread(reads)
        return table_response(
            request, table, fmt,
            lambda reads: IcpReads(icp_id=icp_id, start=start.isoformat(), end=end.isoformat(), as_of=snapshot,
                                   reads=reads),
            headers={SNAPSHOT_HEADER: snapshot} if snapshot else None, tag=tag)

    @get("/v1/reads", operation_class=StreamOperation, sync_to_thread=True,
         responses=problem_responses(404, 406, 504), response_headers=[SNAPSHOT_DOC], **requires("read"))
    def bulk_reads(self, request: Request, svc: ServicesDep, start: Start, end: End,
                   direction: Direction = None, as_of: AsOf = None, shard: Shard = None,
                   format: FormatParam = None, compression: Compression = None,
                   dictionary: Dictionary = False, fields: Fields = "default") -> Stream:
        """Raw reads of every ICP for trading dates start..end, for the algorithm: streamed
        batch by batch as Arrow IPC (the default) or CSV, ordered by icp_id then time.
        `shard=k/n` keeps the ICPs of shard k, so n workers with k = 0..n-1 together get
        every row exactly once. `as_of` as for one ICP; `X-Raw-Snapshot` names the ingest it
        resolved to. `fields=all` adds, after the usual columns, each read's ingest_id and
        the attributes its delivery gave it, as one ICP's reads with `fields=all` show them
        (null for reads not delivered as EIEP). JSON is not offered (406). At most `max_bulk_days` dates
        (92 by default) per request; each slice of the stream must be read within the
        query timeout, or the stream is cut short."""
        lake, db, settings = svc
        fmt = negotiate(request, format, STREAMED)
        check_span(start, end, settings.max_bulk_days, "the bulk stream")
        check_arrow_only(fmt, compression=compression, dictionary=dictionary)
        with as_parameter("as_of", as_of, "ingest_id"):
            bulk = read_bulk(lake, start, end, direction=direction, as_of=as_of, shard=shard, dictionary=dictionary,
                             attributes=fields == "all")
        return stream_response(request, bulk.schema, db.bounded(bulk.batches, None), fmt,
                               headers={SNAPSHOT_HEADER: bulk.as_of} if bulk.as_of else None, compression=compression)

    @post("/v1/reads", operation_class=ReadsUploadOperation, status_code=201,
          responses={200: ResponseSpec(Ingest, description="No-op: every row was already stored"),
                     **problem_responses(413, 422)}, **requires("write"))
    async def ingest(self, request: Request, svc: ServicesDep, actor: ActorDep,
                     on_error: Annotated[Literal["fail", "quarantine"], Parameter(
                         description="fail: any bad row and nothing is written (422); quarantine: ingest the "
                                     "good rows and write the bad ones to a rejects file")] = "fail",
                     source_name: Annotated[str | None, Parameter(
                         description="name recorded for the delivery (default: upload)", max_length=200)] = None,
                     ) -> Response[Ingest]:
        """Ingest a raw delivery (CSV in the brief's format, Parquet or Arrow IPC body, or an
        EIEP3 or EIEP13A file as `text/x-eiep3` or `text/x-eiep13a`; other types are detected
        from the content) with the same rules as the CLI: 201 with the ingest record, 200 for a no-op re-delivery,
        422 with row-level errors (nothing written)."""
        async with received_file(request, svc.lake) as (path, fmt):
            result = await sync_to_thread(ingest_file, svc.lake, path, on_error=on_error, fmt=fmt, actor=actor,
                                          source_name=source_name or "upload")
        return Response(Ingest(**result.to_dict()), status_code=201 if result.status == "committed" else 200)


def _icp_reads(lake, icp_id: str, start, end, direction: str | None, as_of: str | None, attributes: bool):
    table = read_icp(lake, icp_id, start, end, direction=direction, as_of=as_of, ingest_id=attributes)
    return with_attributes(lake, table, icp_id) if attributes else table

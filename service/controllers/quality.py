"""Completeness of the raw reads: the report by date and direction, and one ICP's (thin: the
engine is ``datalake.raw.quality``)."""
from __future__ import annotations

from litestar import Controller, Request, Response, get

from datalake.raw.quality import icp_quality, reads_quality

from ..auth import requires
from ..encoding import table_response
from ..negotiation import negotiate
from ..openapi import TabularOperation
from ..problems import problem_responses
from ..reviewstructs import IcpQuality, QualityReport
from .params import AsOf, End, FormatParam, IcpId, ServicesDep, Start, as_parameter


class QualityController(Controller):
    tags = ["quality"]

    @get("/v1/quality/reads", operation_class=TabularOperation, sync_to_thread=True,
         responses=problem_responses(404), **requires("read"))
    def reads(self, request: Request, svc: ServicesDep, start: Start, end: End, as_of: AsOf = None,
              format: FormatParam = None) -> Response[QualityReport]:
        """Per trading date and direction of start..end (up to 366 dates): the ICPs with a
        read in that direction in the range, how many have every interval of the date
        (`icps_complete`) and how many are short, the intervals expected (46, 48 or 50 an
        ICP), present and missing, the reads revised after their first delivery and the
        latest ingest with a read of the date. `as_of` reads the snapshot after that ingest."""
        fmt = negotiate(request, format)
        with as_parameter("as_of", as_of, "ingest_id"):
            table = reads_quality(svc.lake, start, end, as_of=as_of)
        return table_response(request, table, fmt, lambda items: QualityReport(
            start=start.isoformat(), end=end.isoformat(), as_of=as_of, items=items))

    @get("/v1/icps/{icp_id:str}/quality", operation_class=TabularOperation, sync_to_thread=True,
         responses=problem_responses(404), **requires("read"))
    def icp(self, request: Request, svc: ServicesDep, icp_id: IcpId, start: Start, end: End, as_of: AsOf = None,
            format: FormatParam = None) -> Response[IcpQuality]:
        """One ICP's completeness per trading date of start..end (up to 366) and direction it
        has in the range: intervals expected, present and missing, whether it is complete,
        reads revised, latest ingest. An ICP without reads is an empty list."""
        fmt = negotiate(request, format)
        with as_parameter("as_of", as_of, "ingest_id"):
            table = icp_quality(svc.lake, icp_id, start, end, as_of=as_of)
        return table_response(request, table, fmt, lambda items: IcpQuality(
            icp_id=icp_id, start=start.isoformat(), end=end.isoformat(), as_of=as_of, items=items))

"""The error every client call raises on a non-2xx answer, with the problem details."""
from __future__ import annotations


class ApiError(Exception):
    """A non-2xx answer: ``status``, the problem's stable ``code`` and the whole ``problem``."""

    def __init__(self, status: int, problem: dict) -> None:
        self.status = status
        self.problem = problem
        self.code: str = problem.get("code", "unknown")
        super().__init__(f"{status} {self.code}: {problem.get('detail', '')}")

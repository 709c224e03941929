"""Named aliases of runs (``_meta/aliases/<name>.json``): setting, listing and deleting them,
each change one conditional record write with its history, and ``resolve_run``, the one
place a run selector (``latest``, a run id or ``alias:NAME``) becomes what it names.

An alias record holds ``name``, ``run_id`` (None once deleted), ``set_at`` and ``set_by`` (who
made the current state, a deletion included) and ``history``: every earlier state, oldest
first, each ``{"run_id", "set_at", "set_by"}``. Records are never removed: a deleted alias is
a record whose ``run_id`` is None, so its history stays and setting it again goes on from it.
A change is compare-and-swap through ``commit.update`` against the record the writer read
when it began: of two writers changing one alias at once, one commits and the other gets
``CommitConflictError`` and changes nothing.
"""
from __future__ import annotations

import copy
import threading
import time
from pathlib import Path

from datalake.errors import CommitConflictError, ConflictError, InvalidArgumentError, NotFoundError
from datalake.lake import STORE_POLL_S, Lake
from datalake.runs.record import get_run, now
from datalake.storage import commit
from datalake.storage.files import read_json, version
from datalake.storage.layout import ALIAS_NAME_RE, RUN_ID_RE, check_alias_name, check_run_id
from datalake.storage.location import is_local

PREFIX = "alias:"
_UNREAD = object()
_cache: dict[Path, tuple[tuple, dict, float]] = {}  # path -> (version, record, when checked)
_cache_lock = threading.Lock()


def read_alias(lake: Lake, name: str, *, fresh: bool = False) -> dict | None:
    """The alias's record as stored (a deleted alias's too), or None if it never existed.
    Re-read only when the file changed; on a store a record checked less than
    ``STORE_POLL_S`` ago is reused unless ``fresh``. Not a copy."""
    path = lake.layout.alias_record(name)
    with _cache_lock:
        hit = _cache.get(path)
    if hit is not None and not fresh and not is_local(path) and time.monotonic() - hit[2] < STORE_POLL_S:
        return hit[1]
    try:
        key = version(path)
        record = read_json(path) if fresh or hit is None or hit[0] != key else hit[1]
    except FileNotFoundError:
        return None
    with _cache_lock:
        _cache[path] = (key, record, time.monotonic())
    return record


def get_alias(lake: Lake, name: str, *, field: str = "name") -> dict:
    """The record of an alias that points at a run; ``NotFoundError`` naming ``field`` if
    there is none (never set, or deleted)."""
    check_alias_name(name, field)
    record = read_alias(lake, name)
    if record is None or record["run_id"] is None:
        raise _absent(name, record, field, name)
    return copy.deepcopy(record)


def _absent(name: str, record: dict | None, field: str, value: str, where: str = "") -> NotFoundError:
    gone = f" (deleted at {record['set_at']} by {record['set_by']})" if record is not None else ""
    return NotFoundError(f"{where}no alias {name} in this lake{gone}", field=field, value=value)


def list_aliases(lake: Lake) -> list[dict]:
    """Every alias that points at a run, by name."""
    names = [n.removesuffix(".json") for n in lake.names(lake.layout.aliases_dir, "*.json")]
    found = (read_alias(lake, n) for n in names if ALIAS_NAME_RE.match(n))
    return [copy.deepcopy(r) for r in found if r is not None and r["run_id"] is not None]


def set_alias(lake: Lake, name: str, run_id: str, *, actor: str | None = None, based_on: object = _UNREAD) -> dict:
    """Point ``name`` at ``run_id``, a published run (a candidate or one answering latest);
    the state it replaces goes to the history. Setting it to the run it points at already
    changes nothing. ``based_on``: the record the change starts from (``read_alias``, or None
    for an alias that did not exist), read now if not given; if the alias changed since,
    ``CommitConflictError``."""
    check_alias_name(name)
    check_run_id(run_id)
    based_on = read_alias(lake, name, fresh=True) if based_on is _UNREAD else based_on
    record = get_run(lake, run_id)
    if record["status"] != "published":
        raise ConflictError(f"alias {name} can point only at a published run; {run_id} is {record['status']}",
                            field="run_id", value=run_id)
    if based_on is not None and based_on["run_id"] == run_id:
        return copy.deepcopy(based_on)
    return _change(lake, name, run_id, actor, based_on)


def delete_alias(lake: Lake, name: str, *, actor: str | None = None) -> dict:
    """Delete an alias: its record keeps its history and says who deleted it and when.
    ``NotFoundError`` if it points at nothing."""
    check_alias_name(name)
    based_on = read_alias(lake, name, fresh=True)
    if based_on is None or based_on["run_id"] is None:
        raise _absent(name, based_on, "name", name)
    return _change(lake, name, None, actor, based_on)


def _change(lake: Lake, name: str, run_id: str | None, actor: str | None, based_on: dict | None) -> dict:
    at = now()

    def change(current: dict | None, placed: commit.Staged) -> dict:
        if current != based_on:
            raise CommitConflictError(f"conflict: another writer changed alias {name} first ({describe(current)}); "
                                      "nothing was changed", winner=describe(current), field="name", value=name)
        history = [] if current is None else current["history"] + [
            {k: current[k] for k in ("run_id", "set_at", "set_by")}]
        return {"name": name, "run_id": run_id, "set_at": at, "set_by": actor, "history": history}

    path = lake.layout.alias_record(name)
    try:
        return copy.deepcopy(commit.update(lake, path, change, create=True))
    finally:
        with _cache_lock:
            _cache.pop(path, None)


def describe(record: dict | None) -> str:
    if record is None:
        return "absent"
    what = f"-> {record['run_id']}" if record["run_id"] is not None else "deleted"
    return f"alias {record['name']} {what} by {record['set_by']} at {record['set_at']}"


def resolve_run(lake: Lake, selector: str, field: str = "run") -> str:
    """What a run selector names: ``latest`` as it is, a run id as it is, ``alias:NAME`` the
    run id the alias points at now (``NotFoundError`` naming ``field`` if it points at
    nothing). Anything else is an ``InvalidArgumentError`` naming ``field``."""
    if selector == "latest" or (isinstance(selector, str) and RUN_ID_RE.match(selector)):
        return selector
    if not isinstance(selector, str) or not selector.startswith(PREFIX):
        raise InvalidArgumentError(f"{field} must be latest, a run id like run-00000001 or alias:NAME, "
                                   f"got {selector!r}", field=field, value=selector)
    name = selector[len(PREFIX):]
    if not ALIAS_NAME_RE.match(name):
        raise InvalidArgumentError(f"{field}={selector}: {name!r} is not an alias name (a lowercase letter, then "
                                   "up to 63 lowercase letters, digits, '_' or '-')", field=field, value=selector)
    record = read_alias(lake, name)
    if record is None or record["run_id"] is None:
        raise _absent(name, record, field, selector, f"{field}={selector}: ")
    return record["run_id"]

"""Run a job's chunks on the minion, in order, honouring requisites at run time.

The job (made by `hamaster apply`, see master/cmd_apply.py) is a plain map:

    {"v": 1, "test": bool, "mask": [secret, ...], "chunks": [chunk, ...]}     chunk: see master/compiler.py

and the result, sent back as is:

    {"minion": id, "test": bool,
     "states": [{"key", "id", "fun", "name", "sls", "result": true|false|null, "comment", "changes",
                 "duration_ms", "started_ns", "report"?}, ...],     # report: a read-only job's findings
     "summary": {"succeeded": n, "changed": m, "failed": k, "duration_ms": t}}

Requisites: a state whose require / watch / onchanges target failed does not run (result False, "One or more
requisite failed"); onchanges runs a state only when a target changed, onfail only when a target failed; a
changed `watch` target makes a service reload (or restart). Secrets listed in `mask` never leave in a result.
"""

import logging
import os
import time
from pathlib import Path
from typing import Any

from hamaster.core.config import MinionConfig
from hamaster.core.errors import StateError
from hamaster.core.protocol import JOB_VERSION
from hamaster.core.secrets import mask_data
from hamaster.core.timeutil import now_ns
from hamaster.minion.statemods import FUNCTIONS, WATCHERS, Ctx, Ret

log = logging.getLogger(__name__)
def context_for(cfg: MinionConfig, test: bool) -> Ctx:
    prefix = cfg.raw.get("file_root_prefix")
    if prefix is not None:
        prefix = Path(prefix) if Path(prefix).is_absolute() else cfg.path.parent / prefix
    return Ctx(test=test, prefix=prefix, systemd=os.path.isdir("/run/systemd/system"), minion=cfg)


def run_job(job: dict[str, Any], cfg: MinionConfig) -> dict[str, Any]:
    if job.get("v") != JOB_VERSION or not isinstance(job.get("chunks"), list):
        raise StateError(f"job version {job.get('v')!r} or its chunks are not what this minion runs")
    test = bool(job.get("test"))
    return run_chunks(job["chunks"], context_for(cfg, test), [str(s) for s in job.get("mask", [])], cfg.id)


def run_chunks(chunks: list[dict[str, Any]], ctx: Ctx, secrets: list[str], minion_id: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}
    for chunk in chunks:
        started, s0 = now_ns(), time.perf_counter()
        ret = _run_one(chunk, ctx, done)
        done[chunk["key"]] = {
            "key": chunk["key"], "id": chunk["id"], "fun": chunk["fun"], "name": chunk["name"],
            "sls": chunk.get("sls", ""), "result": ret.result, "comment": ret.comment, "changes": ret.changes,
            "duration_ms": round((time.perf_counter() - s0) * 1000, 3), "started_ns": started,
        }
        if ret.report is not None:  # a read-only job's findings (keepalived.readiness)
            done[chunk["key"]]["report"] = ret.report
    states = mask_data(list(done.values()), secrets)
    failed = sum(s["result"] is False for s in states)
    return {
        "minion": minion_id,
        "test": ctx.test,
        "states": states,
        "summary": {"succeeded": len(states) - failed, "changed": sum(bool(s["changes"]) for s in states),
                    "failed": failed, "duration_ms": round((time.perf_counter() - t0) * 1000, 3)},
    }


def _run_one(chunk: dict[str, Any], ctx: Ctx, done: dict[str, dict[str, Any]]) -> Ret:
    req: dict[str, list[str]] = chunk.get("req", {})

    def ids(keys: list[str]) -> str:
        return ", ".join(f"{done[k]['fun'].split('.')[0]}: {done[k]['id']}" for k in keys)

    missing = [k for keys in req.values() for k in keys if k not in done]
    if missing:  # the compiler orders chunks, so this is a broken job, not a broken state
        return Ret(False, f"requisite {', '.join(missing)} did not run before this state")
    failed = [k for kind in ("require", "watch", "onchanges") for k in req.get(kind, [])
              if done[k]["result"] is False]
    if failed:
        return Ret(False, f"One or more requisite failed: {ids(failed)}")
    if req.get("onchanges") and not any(done[k]["changes"] for k in req["onchanges"]):
        return Ret(True, "State was not run because none of the onchanges reqs changed")
    if req.get("onfail") and not any(done[k]["result"] is False for k in req["onfail"]):
        return Ret(True, "State was not run because none of the onfail reqs failed")

    ret = _call(FUNCTIONS.get(chunk["fun"]), chunk, ctx)
    watched = [k for k in req.get("watch", []) if done[k]["changes"]]
    watcher = WATCHERS.get(chunk["fun"])
    if watched and watcher and ret.result is not False and not ret.changes:  # just started: no reload needed
        w = _call(watcher, chunk, ctx)
        ret = Ret(w.result, f"{ret.comment}; {w.comment} (watching {ids(watched)})", {**ret.changes, **w.changes})
    return ret


def _call(fn: Any, chunk: dict[str, Any], ctx: Ctx) -> Ret:
    if fn is None:
        return Ret(False, f"state function {chunk['fun']} is not known to this minion")
    try:
        return fn(ctx, chunk["name"], **chunk.get("args", {}))
    except Exception as exc:  # a bug or an odd node must fail this state, not the job
        log.exception("state %s %s raised", chunk["fun"], chunk["id"])
        return Ret(False, f"{chunk['fun']} raised {type(exc).__name__}: {exc}")

"""Jobs: state runs sent to minions, their results gathered, and the reactor's `state:` rules.

The daemon owns the sockets and the store's write connection; a JobBook gets them as two callables and
the connection, so this file holds only the bookkeeping: which job waits for whom, until when, and who
(a CLI on the control socket, or nobody for the reactor's jobs) gets the answer.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hamaster.core import protocol
from hamaster.core.config import MasterConfig
from hamaster.core.errors import HamasterError
from hamaster.core.events import StoredEvent
from hamaster.core.timeutil import now_ns
from hamaster.master.store import Connection, jobs, minions
from hamaster.notify.reactor import Reactor

log = logging.getLogger("hamaster.jobs")
REACTOR_JOB_TIMEOUT = 120.0


@dataclass
class Job:
    jid: str
    client: bytes | None  # control-socket route of the CLI waiting for it; None for the reactor's jobs
    deadline: float  # monotonic
    started_ns: int
    test: bool
    pending: set[str]
    results: dict[str, Any] = field(default_factory=dict)
    record: bool = True  # in the jobs table (the timeline); not for a read-only probe (`hamaster check`'s)


class JobBook:
    def __init__(self, db: Connection, send: Callable[[str, bytes], bool],
                 reply: Callable[[bytes, dict[str, Any]], None]) -> None:
        self.db, self.send, self.reply = db, send, reply
        self.jobs: dict[str, Job] = {}
        self._reacted: dict[tuple[str, str | None, str], float] = {}

    def start(self, targets: dict[str, Any], timeout: float, test: bool, client: bytes | None,
              record: bool = True) -> str:
        jid = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]
        job = Job(jid, client, time.monotonic() + timeout, now_ns(), test, set(targets), record=record or not test)
        self.jobs[jid] = job
        if job.record:
            jobs.start(self.db, jid, job.started_ns, list(targets), job.test)
        for who, payload in targets.items():
            if not self.send(who, protocol.encode("job", jid=jid, job=payload)):
                log.warning("job %s: minion %s is not connected", jid, who)
        log.info("job %s sent to %s", jid, ", ".join(sorted(targets)))
        return jid

    def result(self, who: str, jid: str, result: dict[str, Any]) -> None:
        job = self.jobs.get(jid)
        if job is None or who not in job.pending:
            log.info("late or unknown job result %s from %s", jid, who)
            return
        job.pending.discard(who)
        job.results[who] = result
        if not job.pending:
            self._finish(job)

    def expire(self, now: float) -> None:
        for job in [j for j in self.jobs.values() if now > j.deadline]:
            log.warning("job %s: no answer from %s", job.jid, ", ".join(sorted(job.pending)))
            self._finish(job)

    def _finish(self, job: Job) -> None:
        del self.jobs[job.jid]
        for who in job.pending:
            job.results[who] = None
        summary = {who: (r or {}).get("summary") for who, r in job.results.items()}
        if job.record:
            jobs.finish(self.db, job.jid, now_ns(), summary)
        if job.client is not None:
            self.reply(job.client, {"jid": job.jid, "results": job.results})
        else:
            failures = [f"{who}: {st.get('id')}: {st.get('comment')}" for who, r in job.results.items()
                        for st in (r or {}).get("states", []) if st.get("result") is False]
            log.info("job %s done: %s%s", job.jid, json.dumps(summary), "".join(f"\n  {f}" for f in failures))

    def react(self, events: list[StoredEvent], reactor: Reactor, cfg: MasterConfig) -> None:
        """Reactor `state:` rules: run an SLS on a node when a matching event arrives (see notify/reactor.py)."""
        for se in events:
            for rule in reactor.state_rules_for(se.event.tag):
                target = rule.target.format(minion=se.minion, instance=se.event.instance or "")
                key = (rule.match, rule.state, target)
                now = time.monotonic()
                if now - self._reacted.get(key, -rule.cooldown_s) < rule.cooldown_s:
                    continue  # a flapping node must not loop us
                self._reacted[key] = now
                from hamaster.master.states.rolling import plan_minion  # jinja2 and co only when a rule fires

                grains = minions.grains(self.db).get(target, {})
                try:
                    plan = plan_minion(cfg.state_root, cfg.pillar_root, target, grains, False, only=[rule.state or ""])
                except HamasterError as exc:
                    log.error("reactor %s: state %s on %s: %s", rule.match, rule.state, target, exc)
                    continue
                jid = self.start({target: plan.job}, REACTOR_JOB_TIMEOUT, False, None)
                log.info("reactor %s: %s -> state %s on %s (job %s)", rule.match, se.event.tag, rule.state,
                         target, jid)

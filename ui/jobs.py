"""Long page work (ingest, sweeps) as background jobs, so a rerun or a click elsewhere does not kill it.

A script run ends at every widget click; work done inside it dies with it. A job runs in a thread of its own
and is held in a process-wide registry (the embedded store allows one client per process, and work on the same
resource must not overlap, whichever session started it). The page keeps only the job id in session state
(page-namespaced key), polls the job's latest progress snapshot from a fragment that reruns on a timer, and
draws the outcome on one full rerun when the job ends. A job's failure is a message for a person, never a
traceback (the traceback goes to the server log).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

log = logging.getLogger(__name__)
KEEP_FINISHED = 20  # finished jobs kept for the pages that show their outcome


@dataclass
class Job:
    id: str
    key: str  # the resource the job works on: one running job per key
    label: str
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    progress: Any = None  # the latest snapshot the work reported (immutable, so reading it needs no lock)
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    @property
    def elapsed(self) -> str:
        seconds = time.monotonic() - self.started
        return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"

    def report(self, snapshot: Any) -> None:
        """The progress callback handed to the work: keeps the latest snapshot for the page to poll."""
        self.progress = snapshot

    def should_continue(self) -> bool:
        return not self.cancel.is_set()


class JobBusyError(RuntimeError):
    """A job on the same resource is still running."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"{job.label} is already running")
        self.job = job


class Jobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def start(self, key: str, label: str, work: Callable[[Job], Any],
              expected: tuple[type[BaseException], ...] = ()) -> Job:
        """Run `work(job)` in a thread; its return value becomes `job.result`.

        An `expected` exception becomes `job.error` as its message (it is worded for a person); any other
        becomes "label failed: Kind: message", with the traceback logged.
        """
        with self._lock:
            busy = self.running(key)
            if busy is not None:
                raise JobBusyError(busy)
            job = Job(uuid.uuid4().hex[:12], key, label)
            finished = [j for j in self._jobs.values() if not j.running]
            for old in finished[:-KEEP_FINISHED]:
                del self._jobs[old.id]
            self._jobs[job.id] = job
        threading.Thread(target=_run, args=(job, work, expected), name=f"job {label}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def running(self, key: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.key == key and j.running), None)

    def latest(self, key: str) -> Job | None:
        """The job last started on `key`, running or finished (None if none is remembered)."""
        return next((j for j in reversed(self._jobs.values()) if j.key == key), None)


def _run(job: Job, work: Callable[[Job], Any], expected: tuple[type[BaseException], ...]) -> None:
    try:
        job.result = work(job)
    except expected as exc:
        job.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the page shows a message, the log keeps the traceback
        log.exception("%s failed", job.label)
        job.error = f"{job.label} failed: {exc.__class__.__name__}: {exc}"
    finally:
        job.done.set()


@st.cache_resource(show_spinner=False)
def registry() -> Jobs:
    return Jobs()


def current(state_key: str) -> Job | None:
    """The job this session started under `state_key` (None if none, or the registry forgot it)."""
    job_id = st.session_state.get(state_key)
    return registry().get(job_id) if job_id else None


def follow(job: Job, draw: Callable[[Job], None], every: float = 1.0) -> None:
    """Draw a running job's progress and redraw it every `every` seconds; when the job ends, rerun the page
    once so everything that depends on its outcome is drawn afresh."""

    @st.fragment(run_every=every)
    def poll() -> None:
        if not job.running:
            st.rerun()
        draw(job)

    poll()

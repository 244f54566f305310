"""A recent passing store self-check, recorded in the store itself.

A worker checks the store before it serves (``selfcheck.py``): some twenty requests,
four of them racing writers. A worker started to replace a dead one redoes them on the
same store minutes later, through the same faults, while the dead worker's stages wait
for a free thread. A worker whose checks all passed therefore records when, under
:data:`VERDICT_AREA`, keyed by what the checks depend on (the store URL with its
endpoint, bucket and prefix, the encryption asked for, and :data:`CHECKS_VERSION`). A
worker starting within the validity finds it and skips the probes.

Why this keeps the guarantee: the probes show how the server behaves at one moment. A
worker that started T seconds ago serves on that moment's evidence too; a verdict at
most T old gives a new worker the same evidence. Bucket versioning, the one setting
that a single API call flips and that silently breaks create-only writes on RGW, is
read again on every start all the same (one request). A verdict that cannot be read,
is stale, comes from the future, or names other checks is ignored: the checks run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from seqoia.errors import ObjectNotFoundError, SeqoiaError
from seqoia.storage.base import ObjectStore

log = logging.getLogger(__name__)

#: Passing verdicts live here, one object per store configuration.
VERDICT_AREA = "seqoia-selfcheck-verdicts"
#: Bump when the checks change: a verdict of older checks proved less.
CHECKS_VERSION = 1
#: Workers' clocks may disagree by this much; a verdict further in the future is ignored.
CLOCK_SKEW_S = 30.0


def verdict_key(store: ObjectStore) -> str:
    """The key of ``store``'s verdict: a digest of what the checks' outcome depends on."""
    facts = {
        "url": getattr(store, "url", repr(store)),
        "sse": getattr(store, "sse", None),
        "checks": CHECKS_VERSION,
    }
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return f"{VERDICT_AREA}/{digest[:32]}.json"


def record_pass(store: ObjectStore, worker: str = "") -> None:
    """Record that every check passed now; a failure to record is only logged."""
    body = {"passed_at": time.time(), "checks_version": CHECKS_VERSION, "worker": worker}
    try:
        store.put_bytes(verdict_key(store), json.dumps(body).encode())
    except SeqoiaError as err:
        log.warning("store checks passed but could not be recorded: %s", err)


def recent_pass_age_s(store: ObjectStore, valid_s: float) -> float | None:
    """Seconds since the checks last passed on this store, if fewer than ``valid_s``."""
    if valid_s <= 0:
        return None
    try:
        data, _ = store.get_bytes(verdict_key(store))
        body = json.loads(data)
        age_s = time.time() - float(body["passed_at"])
        version = body["checks_version"]
    except ObjectNotFoundError:
        return None
    except (SeqoiaError, ValueError, KeyError, TypeError) as err:
        log.info("no usable record of earlier store checks (%s): checking", err)
        return None
    if version != CHECKS_VERSION or not -CLOCK_SKEW_S <= age_s < valid_s:
        return None
    return max(age_s, 0.0)

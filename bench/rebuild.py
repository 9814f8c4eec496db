"""Rebuild the views of a make_store.py store: events/s against the raw log read, same run.

Run: `python bench/make_store.py DIR` once, then `python bench/rebuild.py DIR`. The raw read
(eventsourcing's notifications mapped to domain events, nothing else) is measured just before
and just after the rebuild, and the rebuild is reported as a ratio of their mean, so a machine
shared with other work still gives comparable figures. A rebuild's own reading, decoding and
folding with no view is timed too: what the views add is the rest.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

# `python bench/X.py` puts bench/ first on the path: the repository's packages go before it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.app import Conveyor
from engine.settings import Settings
from projections.billing import billing_report, months_between
from projections.runtime import BATCH, BULK_BATCH, Projections, Replica
from projections.state import current_state
from projections.views import open_projections


def raw_read(app: Conveyor, batch: int) -> tuple[float, float]:
    """Events/s reading the whole log and mapping each notification to its domain event
    (by the wall clock, and per second of this process's CPU time)."""
    started, cpu = time.perf_counter(), time.process_time()
    position, read = 0, 0
    to_domain_event = app.mapper.to_domain_event
    while True:
        notifications = app.recorder.select_notifications(
            start=position, limit=batch, inclusive_of_start=False
        )
        if not notifications:
            break
        read += len([to_domain_event(n) for n in notifications])
        position = notifications[-1].id
    return read / (time.perf_counter() - started), read / (time.process_time() - cpu)


def folded_read(projections: Projections) -> tuple[float, float]:
    """Events/s of a rebuild's own reading, decoding and folding, with no view: its ceiling."""
    started, cpu = time.perf_counter(), time.process_time()
    read = 0
    gc.disable()  # as a rebuild does
    try:
        replica = Replica(projections.log, size=BULK_BATCH)
        for batch, _ in projections._batches(replica, 0, None, BULK_BATCH):
            read += len(batch)
    finally:
        gc.enable()
    return read / (time.perf_counter() - started), read / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("home", type=Path)
    parser.add_argument("--month", default="2025-07")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--each", action="store_true", help="also rebuild each view alone")
    args = parser.parse_args()
    settings = Settings(home=args.home)
    app = Conveyor(settings)
    head = app.recorder.max_notification_id() or 0

    projections = open_projections(app, settings.sqlalchemy_url())
    projections.batch = args.batch
    before, before_cpu = raw_read(app, args.batch)
    folded, folded_cpu = folded_read(projections)
    cpu = time.process_time()
    done = projections.rebuild()
    cpu = time.process_time() - cpu
    after, after_cpu = raw_read(app, args.batch)
    raw = (before + after) / 2
    rate = done.events / done.seconds
    # CPU time is what other work on a shared machine disturbs least.
    raw_cpu, rate_cpu = (before_cpu + after_cpu) / 2, done.events / cpu
    print(
        f"events in store:            {head:,} (catch-up batches of {projections.batch:,}, "
        f"rebuild {max(projections.batch, BULK_BATCH):,})"
    )
    print(
        f"raw log read + map:         {raw:,.0f} events/s "
        f"({before:,.0f} before, {after:,.0f} after)"
    )
    print(
        f"read + decode + fold only:  {folded:,.0f} events/s, {folded / raw:.2f} of the raw read "
        f"({folded_cpu / raw_cpu:.2f} by CPU time): a rebuild with no view work"
    )
    print(f"full rebuild (4 views):     {rate:,.0f} events/s ({done.seconds:.1f}s)")
    print(f"rebuild / raw read:         {rate / raw:.2f}")
    print(
        f"same, by CPU time:          {rate_cpu / raw_cpu:.2f} "
        f"({rate_cpu:,.0f} / {raw_cpu:,.0f} events per CPU second)"
    )
    if args.each:
        for name in projections.views:
            one = projections.rebuild(name)
            print(f"  rebuild {name:8}          {one.events / one.seconds:,.0f} events/s")

    with projections.engine.connect() as conn:
        started = time.perf_counter()
        report = billing_report(conn, months_between(args.month, args.month))
        billing = time.perf_counter() - started
        started = time.perf_counter()
        current_state(conn, "p000")
        state = time.perf_counter() - started
    started = time.perf_counter()
    caught = projections.catch_up()
    noop = time.perf_counter() - started
    print(
        f"billing report {args.month}:     {billing * 1000:.1f} ms "
        f"({len(report.months[0].lines)} lines)"
    )
    print(f"state p000:                 {state * 1000:.1f} ms")
    print(f"catch-up with nothing new:  {noop * 1000:.1f} ms ({caught.events} events)")
    projections.engine.dispose()
    app.close()


if __name__ == "__main__":
    main()

"""Measure the views on a make_store.py store: rebuild rate, billing and state latency."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.app import Conveyor
from engine.settings import Settings
from projections.billing import billing_report, months_between
from projections.runtime import BATCH
from projections.state import current_state
from projections.views import open_projections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("home", type=Path)
    parser.add_argument("--month", default="2025-07")
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args()
    settings = Settings(home=args.home)
    app = Conveyor(settings)
    head = app.recorder.max_notification_id() or 0

    started = time.perf_counter()
    position, read = 0, 0
    while True:
        batch = app.recorder.select_notifications(
            start=position, limit=5000, inclusive_of_start=False
        )
        if not batch:
            break
        read += len([app.mapper.to_domain_event(n) for n in batch])
        position = batch[-1].id
    raw = read / (time.perf_counter() - started)

    projections = open_projections(app, settings.sqlalchemy_url())
    projections.batch = args.batch
    done = projections.rebuild()
    rate = done.events / done.seconds
    print(f"events in store:            {head:,} (batches of {projections.batch:,})")
    print(f"raw log read + map:         {raw:,.0f} events/s")
    print(
        f"full rebuild (4 views):     {rate:,.0f} events/s ({done.seconds:.1f}s), "
        f"{rate / raw:.0%} of raw"
    )
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
    app.close()


if __name__ == "__main__":
    main()

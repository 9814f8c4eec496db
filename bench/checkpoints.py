"""What the log's signed checkpoints cost a rebuild of the views, on a make_store.py store.

Run: `python bench/make_store.py DIR` once, then `python bench/checkpoints.py DIR`. It times, in
one run and alternating to share the machine's noise: a rebuild without checkpoints (as
bench/rebuild.py does), checkpointing the whole log from none (what an existing store does once,
on its first catch-up after the upgrade), and a rebuild with the checkpointer hooked into the
catch-up as the composition root hooks it (the log already checkpointed: the usual case).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# `python bench/X.py` puts bench/ first on the path: the repository's packages go before it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.app import Conveyor
from engine.settings import Settings
from engine.signing import load_or_create_signer
from projections.checkpoints import (
    Checkpointer,
    checkpoints_table,
    create_checkpoint_table,
    verify_store,
)
from projections.views import open_projections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("home", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = Settings(home=args.home)
    app = Conveyor(settings)
    head = app.recorder.max_notification_id() or 0
    keys = Path(tempfile.mkdtemp())
    signer = load_or_create_signer(keys)
    plain = open_projections(app, settings.sqlalchemy_url())
    create_checkpoint_table(plain.engine)
    hooked = open_projections(app, settings.sqlalchemy_url())
    checkpointer = Checkpointer(app, hooked.engine, lambda: signer)
    hooked.before_catch_up.append(checkpointer.advance)
    print(f"events in store: {head:,}")
    for _ in range(args.rounds):
        done = plain.rebuild()
        print(f"rebuild, no checkpoints:              {done.events / done.seconds:,.0f} events/s")
        with plain.engine.begin() as conn:
            conn.execute(checkpoints_table.delete())
        started = time.perf_counter()
        covered = checkpointer.advance()
        seconds = time.perf_counter() - started
        print(f"checkpoint the whole log from none:   {covered / seconds:,.0f} events/s")
        done = hooked.rebuild()
        print(f"rebuild, checkpointer hooked (at head): {done.events / done.seconds:,.0f} events/s")
        with plain.engine.begin() as conn:
            conn.execute(checkpoints_table.delete())
        done = hooked.rebuild()
        print(f"rebuild + checkpoint from none:       {done.events / done.seconds:,.0f} events/s")
    started = time.perf_counter()
    checked = verify_store(app, hooked.engine, signer.verifier)
    seconds = time.perf_counter() - started
    print(f"audit verify --store:                 {checked.events / seconds:,.0f} events/s")
    with plain.engine.begin() as conn:
        conn.execute(checkpoints_table.delete())
    plain.engine.dispose()
    hooked.engine.dispose()
    app.close()


if __name__ == "__main__":
    main()

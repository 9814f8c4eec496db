"""Create a SQLite store of about 200,000 events: many pipelines running for a year and more."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# `python bench/X.py` puts bench/ first on the path: the repository's packages go before it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.app import ActionResult, Conveyor
from engine.clock import ManualClock, SequentialIds
from engine.settings import Settings


def definition(name: str, index: int) -> dict[str, object]:
    def action(action: str, category: str) -> dict[str, object]:
        return {
            "name": action,
            "actionTypeId": {
                "category": category,
                "owner": "AWS",
                "provider": "Shell",
                "version": "1",
            },
            "configuration": {"Commands": "true"},
            "inputArtifacts": [{"name": "Src"}],
        }

    return {
        "name": name,
        "pipelineType": "V2" if index % 3 == 0 else "V1",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Checkout",
                        "actionTypeId": {
                            "category": "Source",
                            "owner": "AWS",
                            "provider": "CodeCommit",
                            "version": "1",
                        },
                        "configuration": {"RepositoryName": name, "BranchName": "main"},
                        "outputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
            {"name": "Build", "actions": [action("Compile", "Build")]},
            {"name": "Deploy", "actions": [action("Ship", "Deploy")]},
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("home", type=Path)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pipelines", type=int, default=60)
    args = parser.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=args.home)
    clock = ManualClock(datetime(2025, 6, 1, tzinfo=UTC))
    app = Conveyor(settings, clock=clock, ids=SequentialIds("bench"))
    names = [f"p{index:03d}" for index in range(args.pipelines)]
    started = time.perf_counter()
    for index, name in enumerate(names):
        app.create_pipeline(definition(name, index), by="bench", start=False)
    revision = 0
    while (app.recorder.max_notification_id() or 0) < args.events:
        for name in names:
            clock.advance(timedelta(minutes=5))
            app.start_pipeline_execution(name, by="bench")
            work = app.advance(name)
            while work:
                item = work.pop(0)
                clock.advance(timedelta(seconds=30 + revision % 200))
                result = ActionResult(succeeded=True)
                if item.action_type["category"] == "Source":
                    revision += 1
                    result = ActionResult(
                        succeeded=True,
                        output_artifacts={"Src": f"digest-{revision}"},
                        revision={"revisionId": f"{revision:040x}", "revisionSummary": "bench"},
                    )
                work.extend(app.complete_action(item, result))
    head = app.recorder.max_notification_id()
    took = time.perf_counter() - started
    print(
        f"{head} events in {took:.1f}s ({head / took:,.0f} events/s) up to {clock.now():%Y-%m-%d}"
    )
    app.close()


if __name__ == "__main__":
    main()

"""The runner: hands started actions to providers (side effects) and reports results back."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

from engine.app import ActionResult, ActionWork, Conveyor
from engine.artifacts import ArtifactStore
from engine.providers import provider_for
from engine.providers.base import ActionOutcome, ActionRequest
from engine.safepath import private_dir, private_file
from engine.settings import Settings

Listener = Callable[[str, ActionWork, ActionResult | None], None]


def log_path(settings: Settings, execution_id: str, action_execution_id: str) -> Path:
    return settings.logs_dir / execution_id / f"{action_execution_id}.log"


class Runner:
    """Drives one pipeline until no execution can move without a person or the clock.

    Deterministic decisions stay in the application; this class only runs providers, each in a
    worker thread, and never holds a transaction while an action runs.
    """

    def __init__(
        self,
        app: Conveyor,
        artifacts: ArtifactStore,
        *,
        workers: int | None = None,
        listener: Listener | None = None,
        keep_workdirs: bool = False,
    ) -> None:
        self.app = app
        self.settings = app.settings
        self.artifacts = artifacts
        self.workers = workers or self.settings.workers
        self.listener = listener
        self.keep_workdirs = keep_workdirs
        self._lock = threading.Lock()

    def drive(self, pipeline_name: str, initial: Iterable[ActionWork] = ()) -> None:
        """Run the pipeline's runnable actions, and those they unlock, until it settles."""
        pending = [*initial, *self.app.advance(pipeline_name)]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="action") as pool:
            running: dict[Future[ActionResult], ActionWork] = {}

            def submit(items: Iterable[ActionWork]) -> None:
                for work in items:
                    self._notify("started", work, None)
                    running[pool.submit(self.run_action, work)] = work

            submit(pending)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    work = running.pop(future)
                    result = future.result()
                    self._notify("finished", work, result)
                    submit(self.app.complete_action(work, result))

    def run_action(self, work: ActionWork) -> ActionResult:
        """Run one action's provider; never raises for the action's own failures."""
        workdir = self.settings.work_dir / work.action_execution_id
        log = log_path(self.settings, work.execution_id, work.action_execution_id)
        # Logs and work folders are the owner's alone (0700 / 0600), whatever the umask.
        private_dir(self.settings.logs_dir)
        private_dir(log.parent)
        private_file(log)
        try:
            private_dir(self.settings.work_dir)
            workdir.mkdir(parents=True, exist_ok=True)
            inputs = {}
            for name, digest in work.input_artifacts.items():
                if not digest or not self.artifacts.exists(digest):
                    return ActionResult(
                        succeeded=False,
                        error_code="JobFailed",
                        error_message=f"input artifact '{name}' is missing from the store",
                    )
                inputs[name] = self.artifacts.path(digest)
            request = ActionRequest(
                action_execution_id=work.action_execution_id,
                pipeline_name=work.pipeline_name,
                execution_id=work.execution_id,
                stage=work.stage,
                action=work.action,
                category=work.action_type["category"],
                owner=work.action_type["owner"],
                provider=work.action_type["provider"],
                version=work.action_type["version"],
                configuration=dict(work.configuration),
                commands=work.commands,
                input_artifacts=inputs,
                output_artifacts=dict(work.output_artifacts),
                output_variable_names=work.output_variable_names,
                environment=dict(work.environment),
                workdir=workdir / "run",
                log_path=log,
                timeout_seconds=work.timeout_seconds,
                workspace_root=self.settings.workspace_root,
                buckets_root=self.settings.buckets_dir,
                home=self.settings.home,
                revision=work.revision,
            )
            (workdir / "run").mkdir(parents=True, exist_ok=True)
            outcome = provider_for(work.kind).run(request)
            return self._ingest(work, outcome)
        except Exception as error:  # a provider bug must fail the action, not the engine
            with log.open("a") as handle:
                handle.write(f"\n[conveyor] internal error: {error!r}\n")
            return ActionResult(
                succeeded=False,
                error_code="JobFailed",
                error_message=f"internal error running {work.kind}: {error}",
            )
        finally:
            if not self.keep_workdirs:
                shutil.rmtree(workdir, ignore_errors=True)

    def _ingest(self, work: ActionWork, outcome: ActionOutcome) -> ActionResult:
        digests: dict[str, str] = {}
        if outcome.succeeded:
            for name in work.output_artifacts:
                produced = outcome.output_artifacts.get(name)
                if produced is None:
                    return ActionResult(
                        succeeded=False,
                        error_code="JobFailed",
                        error_message=f"the action did not produce output artifact '{name}'",
                    )
                digests[name] = self.artifacts.put_dir(produced, note=self._noter(work))
        revision = None
        if outcome.revision is not None:
            raw = asdict(outcome.revision)
            revision = {
                "revisionId": raw["revision_id"],
                "revisionChangeIdentifier": raw["revision_change_id"],
                "revisionSummary": raw["summary"],
                "created": raw["created"].isoformat(),
                "revisionUrl": raw["url"],
            }
        return ActionResult(
            succeeded=outcome.succeeded,
            summary=outcome.summary,
            output_artifacts=digests,
            output_variables=dict(outcome.output_variables),
            error_code=outcome.error_code,
            error_message=outcome.error_message,
            revision=revision,
            external_execution_id=outcome.external_execution_id,
            external_execution_url=outcome.external_execution_url,
        )

    def _noter(self, work: ActionWork) -> Callable[[str], None]:
        """Writes what storing an output artifact left out (links leaving it) to the action log."""
        log = log_path(self.settings, work.execution_id, work.action_execution_id)

        def note(line: str) -> None:
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"[conveyor] output artifact: {line}\n")

        return note

    def _notify(self, what: str, work: ActionWork, result: ActionResult | None) -> None:
        if self.listener is not None:
            with self._lock:
                self.listener(what, work, result)

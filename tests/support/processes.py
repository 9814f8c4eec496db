"""Waiting on operating-system processes: on a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import os
import time
from pathlib import Path

# Generous: a killed process leaves the group only once it is reaped. A member whose parent
# died is reaped by PID 1 (or the nearest subreaper), and PID 1 on some machines reaps
# only every one or two seconds.
GROUP_GONE_WITHIN_SECONDS = 15.0
_POLL_SECONDS = 0.01


def process_group_of(pid: int) -> int | None:
    """The process group of pid, or None when no such process is left (not even a zombie)."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def group_exists(pgid: int) -> bool:
    """Whether any process, a zombie included, is still in the group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _members(pgid: int) -> list[str]:
    """The group's members as 'pid state ppid', read from /proc where there is one."""
    found: list[str] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The command name sits in parentheses and may hold spaces; fields follow it.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            found.append(f"{stat.parent.name} state={fields[0]} ppid={fields[1]}")
    return found


def wait_until_group_gone(pgid: int, within: float = GROUP_GONE_WITHIN_SECONDS) -> None:
    """Return once every process of the group is gone and reaped; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while group_exists(pgid):
        if time.monotonic() >= deadline:
            left = ", ".join(_members(pgid)) or "unknown members"
            raise AssertionError(f"process group {pgid} still exists after {within}s: {left}")
        time.sleep(_POLL_SECONDS)


def kill_groups_mentioning(text: str) -> None:
    """Kill the process group of every process whose command line mentions `text` (a test's
    tmp_path): actions run in groups of their own, which killing the CLI that started them
    does not reach, and none may outlive the test."""
    import signal

    groups: set[int] = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in argv:
            pgid = process_group_of(int(cmdline.parent.name))
            if pgid is not None and pgid != os.getpgrp():
                groups.add(pgid)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def _stat_fields(stat: Path) -> list[str] | None:
    """A /proc/PID/stat's fields after the command name (state, ppid, pgrp, ...)."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def live_members(pgid: int) -> list[int]:
    """The group's processes that still run: zombies (dead, waiting to be reaped) excluded."""
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields and len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_until_group_dead(pgid: int, within: float = GROUP_GONE_WITHIN_SECONDS) -> None:
    """Return once no process of the group runs (zombies may wait for their reaper)."""
    deadline = time.monotonic() + within
    while live_members(pgid):
        if time.monotonic() >= deadline:
            left = ", ".join(_members(pgid))
            raise AssertionError(f"process group {pgid} still runs after {within}s: {left}")
        time.sleep(_POLL_SECONDS)


def processes_with_argv(*words: str) -> list[int]:
    """Running processes (zombies excluded) whose argv holds every one of `words`."""
    found: list[int] = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if all(word in argv for word in words):
            fields = _stat_fields(cmdline.parent / "stat")
            if fields and fields[0] != "Z":
                found.append(int(cmdline.parent.name))
    return found

"""What an extraction has to do, decided from the archive and the files present (pure).

Given the safe members, the selection and the sizes of files already at their final
names, these functions say which members to write, which to compare first, which to
skip, and how to cut the work into batches for the worker processes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from hyperkvasir_cli.archive.index import ZipMember
from hyperkvasir_cli.archive.safety import SafeMember
from hyperkvasir_cli.archive.selection import Selection

MiB = 1024 * 1024
MAX_BATCH_BYTES = 64 * MiB
MIN_BATCH_BYTES = 1 * MiB
MAX_BATCH_MEMBERS = 256
BATCHES_PER_WORKER = 8
# Below this much work, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 8 * MiB
PARALLEL_MIN_MEMBERS = 1024


class Action(Enum):
    EXTRACT = "extract"
    CHECK = "check"  # a file of the right size is there: extract only if its CRC-32 differs
    SKIP = "skip"


class MemberTask(NamedTuple):
    """One member to write (a tuple: cheap to pickle to a worker)."""

    path: str
    member: ZipMember
    check_first: bool


@dataclass(frozen=True)
class Plan:
    """The work for one run. ``tasks`` are in archive order; the rest are counts."""

    tasks: list[MemberTask]
    selected: int
    selected_bytes: int
    skipped: int

    @property
    def bytes_to_process(self) -> int:
        return sum(task.member.file_size for task in self.tasks)

    @property
    def sizes_to_write(self) -> list[int]:
        """The sizes of the files this run will surely write (not those it compares first)."""
        return [task.member.file_size for task in self.tasks if not task.check_first]


def choose_action(
    declared_size: int, present_size: int | None, *, verify: bool, force: bool
) -> Action:
    """Extract unless a file of the declared size is there; with ``verify``, compare first."""
    if force or present_size is None or present_size != declared_size:
        return Action.EXTRACT
    return Action.CHECK if verify else Action.SKIP


def select(members: Iterable[SafeMember], selection: Selection) -> list[SafeMember]:
    """The members (files and folders) that ``selection`` keeps; platform junk never."""
    return [m for m in members if selection.selects(m.path + ("/" if m.is_dir else ""))]


def folders_of(members: Iterable[SafeMember]) -> list[str]:
    """Every folder the members need, parents first ("" is the target itself)."""
    needed: set[str] = set()
    for safe in members:
        folder = safe.folder
        while folder and folder not in needed:
            needed.add(folder)
            folder = folder.rpartition("/")[0]
    return sorted(needed, key=lambda f: (f.count("/"), f))


def file_folders(members: Iterable[SafeMember]) -> list[str]:
    """The folders that directly hold the members' files ("" is the target itself)."""
    return sorted({m.folder for m in members if not m.is_dir})


def plan_extraction(
    selected: Sequence[SafeMember],
    present_sizes: Mapping[str, int],
    *,
    verify: bool,
    force: bool,
) -> Plan:
    """Decide each selected file's fate from the sizes of the files already in place."""
    tasks = []
    skipped = total = 0
    files = sorted((m for m in selected if not m.is_dir), key=lambda m: m.member.header_offset)
    for safe in files:
        size = safe.member.file_size
        total += size
        action = choose_action(size, present_sizes.get(safe.path), verify=verify, force=force)
        if action is Action.SKIP:
            skipped += 1
            continue
        tasks.append(MemberTask(safe.path, safe.member, check_first=action is Action.CHECK))
    return Plan(tasks, len(files), total, skipped)


def worth_workers(jobs: int, size: int, members: int) -> bool:
    """Whether ``members`` files of ``size`` bytes in all are worth worker processes."""
    return jobs > 1 and (size >= PARALLEL_MIN_BYTES or members >= PARALLEL_MIN_MEMBERS)


def cut_batches(tasks: Sequence[MemberTask], jobs: int) -> list[list[MemberTask]]:
    """Batches of neighbouring members, in archive order: small enough that ``jobs``
    workers share the work evenly and progress moves, large enough that handing one out
    costs little."""
    total = sum(task.member.file_size for task in tasks)
    limit = min(MAX_BATCH_BYTES, max(MIN_BATCH_BYTES, total // (jobs * BATCHES_PER_WORKER)))
    batches: list[list[MemberTask]] = []
    current: list[MemberTask] = []
    size = 0
    for task in tasks:
        current.append(task)
        size += task.member.file_size
        if size >= limit or len(current) >= MAX_BATCH_MEMBERS:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


class BatchQueue:
    """Hands out batches so that workers stay in different parts of the archive.

    Creating files in one folder serialises on that folder's lock, and members of one
    folder sit together in the archive. So worker ``i`` owns the ``i``-th stretch of
    batches and works through it in order; once it is done, it takes from the far end of
    the stretch with the most left, away from where that stretch's owner is writing.
    Every batch is handed out exactly once.
    """

    def __init__(self, batches: Sequence[list[MemberTask]], workers: int) -> None:
        length = max(1, -(-len(batches) // max(1, workers)))
        self._stretches = [deque(batches[i : i + length]) for i in range(0, len(batches), length)]
        self._stretches += [deque() for _ in range(workers - len(self._stretches))]

    def take(self, worker: int) -> list[MemberTask] | None:
        own = self._stretches[worker]
        if own:
            return own.popleft()
        fullest = max(self._stretches, key=len)
        return fullest.pop() if fullest else None

    def __len__(self) -> int:
        return sum(len(stretch) for stretch in self._stretches)

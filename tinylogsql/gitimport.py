"""Import a git repository's history: each git commit becomes one pond commit (``Pond.import_git``,
``tinylogsql import-git``).

The repository is read with git itself: ``git log --first-parent --raw -z -M`` for each commit's
metadata and changes (renames detected by git), ``git cat-file --batch`` for the blobs. A pond
commit keeps the git message and author (``Name <email>``); its ``txn_id`` is
``git:<sha>:<author epoch>:<author tz>``, which makes the import durable and incremental (the
newest such row on the branch names the last imported commit) and the author time queryable
(the ``git_commits`` view). Renames become moves, symlinks stay symlinks, submodules (gitlinks)
are skipped with a note, directories left empty are removed (git has none), and a file replaced
by a directory (or the reverse) is a remove then creates. Added and edited files go through the bulk
path together (one ``ingest``, edits as writes). A git commit that changes no file makes no pond
commit (the pond has no empty commits). A reader thread (``_prefetched``) reads the next commits and
their blobs from git while the pond commits the current one.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from .alloc import collector_paused
from .bulk import batch_of_files, create
from .errors import GitError, InvalidArgumentError, InvalidNameError, NotADirError, PathNotFoundError
from .folderrows import FolderRows
from .paths import is_plain, resolve
from .schema import ROOT_ID
from .smallbatch import SMALL_BATCH, stage_files
from .txn import INLINE_MAX

if TYPE_CHECKING:
    from .pond import Pond
    from .query import NodeRow
    from .txn import Transaction

SYMLINK, GITLINK = "120000", "160000"
NULL_SHA = "0" * 40
BATCH = 500
AHEAD = 8
"""git commits (with their blobs) the reader thread reads ahead of the pond's commits."""
STREAM_CHUNK = 1 << 16
"""Blob requests written to ``git cat-file --batch`` before reading the answers (~20 KB of ids)."""
TXN_PREFIX = "git:"
_FORMAT = "%x01%x02%H%x00%an%x00%ae%x00%ad%x00%B%x00"
"""One commit's header in ``git log -z`` output: sha, author name, email, raw date, message."""


T = TypeVar("T")


@dataclass
class Change:
    """One entry of ``git log --raw``: status A/M/D/R/T, modes, blob ids and paths."""

    status: str
    old_mode: str
    new_mode: str
    old_sha: str
    new_sha: str
    path: str
    old_path: str | None = None


@dataclass
class GitCommit:
    sha: str
    author: str
    date: str  # "epoch tz", git's raw date
    message: str
    changes: list[Change] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import did."""

    branch: str
    commits: int = 0  # git commits imported (empty ones included)
    empty: int = 0  # git commits that changed no file (no pond commit)
    changes: int = 0  # file changes applied
    versions: list[int] = field(default_factory=list)  # the pond versions made, in order
    last_sha: str | None = None  # the newest git commit imported now or before
    notes: list[str] = field(default_factory=list)  # e.g. submodules skipped
    forked_at: int | None = None  # the pond version a new branch started from

    def summary(self) -> str:
        return (f"imported {self.commits} git commit(s) ({self.changes} changes, {self.empty} empty) into branch "
                f"{self.branch!r}" + (f", now at version {self.versions[-1]}" if self.versions else ""))


def _git(repo: str, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", repo, *args], capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed (import-git reads repositories with git itself)") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {detail[-1] if detail else done.returncode}")
    return done.stdout


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidNameError(f"{what} is not valid UTF-8: {raw!r}") from exc


def rev_sha(repo: str, rev: str) -> str:
    """The commit id of ``rev`` in ``repo`` (GitError if there is none)."""
    if not isinstance(rev, str) or not rev or rev.startswith("-"):
        raise InvalidArgumentError(f"invalid git revision {rev!r}")
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except GitError:
        raise GitError(f"no commit named {rev!r} in {repo}") from None


def _stream(repo: str, *args: str) -> Iterator[bytes]:
    """git's output in blocks as it comes (git computes the next commits' diffs on the other core
    while the pond commits the ones read), ended by a GitError if git failed."""
    try:
        process = subprocess.Popen(["git", "-C", repo, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise GitError("git is not installed (import-git reads repositories with git itself)") from exc
    stdout: IO[bytes] = process.stdout  # type: ignore[assignment]
    try:
        while chunk := stdout.read1(STREAM_CHUNK):  # type: ignore[attr-defined]
            yield chunk
    finally:
        stdout.close()
        stderr = process.stderr.read() if process.stderr else b""  # (small: only error messages)
        code = process.wait()
    if code != 0:
        detail = stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {detail[-1] if detail else code}")


def _blocks(chunks: Iterator[bytes], separator: bytes) -> Iterator[bytes]:
    """The pieces between separators of a stream read in chunks (the text before the first dropped);
    chunks are joined only when a separator arrived, so a large piece is not copied per chunk."""
    parts: list[bytes] = []
    carry = b""  # the previous chunk's last bytes: a separator may straddle two chunks
    first = True
    for chunk in chunks:
        found = separator in chunk or separator in carry + chunk[:len(separator) - 1]
        carry = (carry + chunk)[-(len(separator) - 1):]
        parts.append(chunk)
        if not found:
            continue
        *done, rest = b"".join(parts).split(separator)
        parts = [rest]
        for block in done:
            if not first:
                yield block
            first = False
    if not first:
        yield b"".join(parts)


def read_commits(repo: str, since: str | None, until: str) -> Iterator[GitCommit]:
    """The first-parent commits after ``since`` up to ``until``, oldest first, with their changes
    (read from git log as it writes them)."""
    span = f"{since}..{until}" if since else until
    out = _stream(repo, "log", "--first-parent", "--reverse", "--raw", "-z", "-M", "--no-abbrev",
                  "--diff-merges=first-parent", "--date=raw", f"--format={_FORMAT}", span, "--")
    for block in _blocks(out, b"\x01\x02"):
        sha, name, email, date, rest = block.split(b"\x00", 4)
        message, _, raw = rest.partition(b"\x00")
        commit = GitCommit(sha.decode(), f"{_text(name, 'an author name')} <{_text(email, 'an author email')}>",
                           date.decode(), message.decode("utf-8", "replace").rstrip("\n"))
        tokens = raw.lstrip(b"\x00\n").split(b"\x00")
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if not token.startswith(b":"):
                index += 1
                continue
            old_mode, new_mode, old_sha, new_sha, status = token[1:].decode().split(" ")
            if status[0] in "RC":
                old, new = tokens[index + 1], tokens[index + 2]
                index += 3
                commit.changes.append(Change(status[0], old_mode, new_mode, old_sha, new_sha, _text(new, "a path"),
                                             _text(old, "a path")))
            else:
                index += 2
                commit.changes.append(Change(status[0], old_mode, new_mode, old_sha, new_sha,
                                             _text(tokens[index - 1], "a path")))
        yield commit


class Blobs:
    """``git cat-file --batch``: blob contents by id, one long-lived process."""

    def __init__(self, repo: str) -> None:
        self._process = subprocess.Popen(["git", "-C", repo, "cat-file", "--batch"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE)

    def read_many(self, shas: list[str]) -> list[bytes]:
        """Blobs in order, in exchanges of BATCH requests (see ``_exchange``)."""
        return self._exchange(shas, self._answer)

    def _exchange(self, requests: list[str], answer: Callable[[str], T]) -> list[T]:
        """Answers in order: requests go BATCH at a time (well under a pipe's buffer, so writing them
        never waits for git, which may be blocked writing a large answer), then the answers are read."""
        stdin: IO[bytes] = self._process.stdin  # type: ignore[assignment]
        out: list[T] = []
        for start in range(0, len(requests), BATCH):
            part = requests[start:start + BATCH]
            stdin.write(b"".join(request.encode() + b"\n" for request in part))
            stdin.flush()
            out += [answer(request) for request in part]
        return out

    def _answer(self, sha: str) -> bytes:
        stdout: IO[bytes] = self._process.stdout  # type: ignore[assignment]
        header = stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(f"git cat-file cannot read blob {sha}: {b' '.join(header).decode(errors='replace')}")
        data = stdout.read(int(header[2]))
        stdout.read(1)  # the newline after the content
        return data

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait()


def imported(pond: Pond) -> dict[str, int]:
    """git commit id -> pond version, for the git commits imported on this pond's line of history."""
    rows = pond._fixed_sql("SELECT txn_id, version FROM commits WHERE starts_with(txn_id, ?) ORDER BY version",
                           [TXN_PREFIX])
    return {txn.split(":")[1]: version for txn, version in rows}


def _last(pond: Pond) -> str | None:
    rows = pond._fixed_sql("SELECT txn_id FROM commits WHERE starts_with(txn_id, ?) ORDER BY version DESC LIMIT 1",
                           [TXN_PREFIX])
    return rows[0][0].split(":")[1] if rows else None


def _ancestor(repo: str, old: str, new: str) -> bool:
    return subprocess.run(["git", "-C", repo, "merge-base", "--is-ancestor", old, new],
                          capture_output=True, check=False).returncode == 0


def import_git(pond: Pond, repo: str | os.PathLike[str], rev: str = "HEAD", branch: str | None = None,
               author: str | None = None) -> ImportReport:
    """Import the first-parent history of ``rev`` into ``branch`` (default: the pond's branch), one
    pond commit per git commit; only commits not imported yet. A missing branch is forked at the
    pond version of the newest commit it shares with what is imported on the pond's branch."""
    repo = os.fspath(repo)
    if not os.path.isdir(repo):
        raise GitError(f"no git repository at {repo}")
    target = rev_sha(repo, rev) if rev else ""
    if not target:
        raise GitError(f"{rev!r} names no commit in {repo}")
    report = ImportReport(branch or pond.branch)
    on = pond
    if branch is not None and branch != pond.branch:
        if any(b.name == branch for b in pond.branches()):
            on = pond.on(branch)
        else:
            on = _fork(pond, repo, target, branch, report)
    try:
        _run(on, repo, target, report)
    finally:
        if on is not pond:
            on.close()
    return report


def import_all(pond: Pond, repo: str | os.PathLike[str]) -> list[ImportReport]:
    """Every local branch once: the one HEAD names into the pond's branch (first), each other into
    the pond branch of the same name, forked where its history meets what is imported already."""
    repo = os.fspath(repo)
    if not os.path.isdir(repo):
        raise GitError(f"no git repository at {repo}")
    names = _git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").decode().split()
    head = subprocess.run(["git", "-C", repo, "symbolic-ref", "--quiet", "--short", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip()
    reports = []
    if head in names:
        reports.append(import_git(pond, repo, head))
    for name in names:
        if name == head:
            continue
        if name == pond.branch:
            reports.append(ImportReport(name, notes=[f"git branch {name} skipped: the pond's {name} holds {head}"]))
            continue
        reports.append(import_git(pond, repo, name, branch=name))
    return reports


def _fork(pond: Pond, repo: str, target: str, branch: str, report: ImportReport) -> Pond:
    """A new pond branch starting at the pond version of the newest commit of ``target``'s first-parent
    line that the pond's branch has imported (version 0 if none)."""
    known = imported(pond)
    fork = 0
    if known:
        for sha in _git(repo, "rev-list", "--first-parent", target).decode().split():
            if sha in known:
                fork = known[sha]
                break
    report.forked_at = fork
    return pond.create_branch(branch, at=fork)


def _run(pond: Pond, repo: str, target: str, report: ImportReport) -> None:
    since = _last(pond)
    if since == target:
        report.last_sha = since
        return
    if since is not None and not _ancestor(repo, since, target):
        raise GitError(f"the pond's last imported commit {since[:12]} is not an ancestor of {target[:12]}: "
                       "history was rewritten; import into a new branch")
    contents = Contents(repo)
    folders = Folders.at(repo, since)
    carried = FolderRows()  # the pond's folder rows, from each commit to the next
    try:
        with pond._upkeep_at_end():  # (state snapshot, checkpoint, compaction: once, after the last commit)
            for commit, held, digests in _prefetched(repo, since, target):
                contents.held, contents.digests = held, digests
                with collector_paused():  # (see alloc.py: ~15% of an import's CPU went to collector passes)
                    _apply(pond, commit, contents, folders, carried, report)
                report.last_sha = commit.sha
    finally:
        contents.close()


def _wanted(commit: GitCommit) -> list[str]:
    """The blobs a commit's changes read: added, edited and retyped contents (not a pure rename's)."""
    wanted = []
    for change in commit.changes:
        if change.status == "D" or GITLINK in (change.old_mode, change.new_mode):
            continue
        if change.status == "R" and change.old_sha == change.new_sha and \
                (change.old_mode == SYMLINK) == (change.new_mode == SYMLINK):
            continue
        wanted.append(change.new_sha)
    return list(dict.fromkeys(wanted))


def _prefetched(repo: str, since: str | None,
                until: str) -> Iterator[tuple[GitCommit, dict[str, bytes], dict[str, str]]]:
    """The commits of ``read_commits`` with the blobs each needs (one ``cat-file`` exchange a commit)
    and the hex sha256 of those of inline size, read by a thread up to AHEAD commits ahead: git's
    reads (and git computing the diffs) wait on pipes, which release the GIL, so they overlap the
    pond's work on the commit before, and the hashing is off the committing thread."""
    ahead: queue.Queue[Any] = queue.Queue(AHEAD)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        blobs: Blobs | None = None
        commits = read_commits(repo, since, until)
        try:
            blobs = Blobs(repo)
            for commit in commits:
                wanted = _wanted(commit)
                held = dict(zip(wanted, blobs.read_many(wanted), strict=True))
                digests = {sha: hashlib.sha256(data).hexdigest() for sha, data in held.items()
                           if len(data) <= INLINE_MAX}
                if not put((commit, held, digests)):
                    return
            put(done)
        except BaseException as exc:  # handed to the importing thread, raised there
            put(exc)
        finally:
            commits.close()  # (ends git log when the import stopped early)
            if blobs is not None:
                blobs.close()

    reader = threading.Thread(target=read, name="tinylogsql-git-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = ahead.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


class Contents:
    """Blob contents for the commit being applied: the ones read ahead, else (a rename cycle turned
    into an add) read now through a ``cat-file`` process of the importing thread's own."""

    def __init__(self, repo: str) -> None:
        self.repo = repo
        self.held: dict[str, bytes] = {}
        self.digests: dict[str, str] = {}  # hex sha256 of the held blobs of inline size
        self._blobs: Blobs | None = None

    def read(self, sha: str) -> bytes:
        held = self.held.get(sha)
        if held is not None:
            return held
        if self._blobs is None:
            self._blobs = Blobs(self.repo)
        return self._blobs.read_many([sha])[0]

    def close(self) -> None:
        if self._blobs is not None:
            self._blobs.close()


def _parent(path: str) -> str:
    return posixpath.dirname(path)


class Folders:
    """How many files (and symlinks) git's tree holds under each folder, kept as the commits are
    applied: a folder at 0 is gone from git (git has no empty directories), so the pond's is
    removed, without asking git or listing the pond's folders that still hold files."""

    def __init__(self) -> None:
        self.files: dict[str, int] = {}

    @classmethod
    def at(cls, repo: str, sha: str | None) -> Folders:
        """The counts of commit ``sha``'s tree (none before the first import)."""
        folders = cls()
        if sha is not None:
            for entry in _git(repo, "ls-tree", "-r", "-z", sha).split(b"\x00"):
                meta, _, path = entry.partition(b"\t")
                if path and not meta.startswith(GITLINK.encode()):
                    folders.change(path.decode("utf-8", "replace"), 1)
        return folders

    def change(self, path: str, delta: int) -> None:
        """A file at ``path`` added (+1) or gone (-1): every folder holding it."""
        files = self.files
        folder = path.rpartition("/")[0]
        while folder:
            files[folder] = files.get(folder, 0) + delta
            folder = folder.rpartition("/")[0]

    def empty(self, folder: str) -> bool:
        return self.files.get(folder, 0) <= 0

    def apply(self, changes: list[Change]) -> None:
        """A commit's changes (submodules left out): adds, deletes and the two ends of renames."""
        for change in changes:
            if change.status in "AC":
                self.change(change.path, 1)
            elif change.status == "D":
                self.change(change.path, -1)
            elif change.status == "R":
                self.change(str(change.old_path), -1)
                self.change(change.path, 1)


def _apply(pond: Pond, commit: GitCommit, contents: Contents, folders: Folders, carried: FolderRows,
           report: ImportReport) -> None:
    """One git commit as one pond transaction: removes, moves, pruning the directories that left
    empty, then every added and edited file and added symlink in one bulk ingest (edits as writes).
    Folders are found through ``carried``, kept from the commit before (see folderrows.py)."""
    epoch, _, tz = commit.date.partition(" ")
    report.commits += 1
    changes = []
    for change in commit.changes:
        if GITLINK in (change.old_mode, change.new_mode):
            report.notes.append(f"{commit.sha[:12]}: submodule {change.path} skipped")
            continue
        changes.append(change)
    if not changes:
        report.empty += 1
        return
    folders.apply(changes)
    with pond.transaction(message=commit.message, author=commit.author, optimistic=True) as tx:
        tx.txn_id = f"{TXN_PREFIX}{commit.sha}:{int(epoch)}:{tz}"
        tx.folders = carried
        emptied: set[str] = set()
        adds: list[Change] = []  # added files and symlinks, and edited files
        for change in changes:
            if change.status == "D" or (change.status == "T"):
                _remove(pond, tx, change.path)
                emptied.add(_parent(change.path))
                if change.status == "T":
                    adds.append(change)
        pending = [c for c in changes if c.status == "R"]
        while pending:  # a destination still held by another rename's source goes after it
            sources = {c.old_path for c in pending}
            ready = [c for c in pending if c.path not in sources]
            if not ready:  # renames in a cycle: the first becomes a remove and an add
                stuck = pending.pop(0)
                _remove(pond, tx, str(stuck.old_path))
                emptied.add(_parent(str(stuck.old_path)))
                adds.append(stuck)
                continue
            for change in ready:
                _rename(pond, tx, change, adds)
                emptied.add(_parent(str(change.old_path)))
            pending = [c for c in pending if c not in ready]
        for change in changes:
            if change.status == "M":
                if SYMLINK in (change.old_mode, change.new_mode):  # a symlink's target is not written: replaced
                    _remove(pond, tx, change.path)
                adds.append(change)
            elif change.status in "AC":
                adds.append(change)
        _prune(pond, tx, emptied, folders)  # before the adds: a file may be added where a folder was
        if adds:
            _add(pond, adds, contents)
    carried.committed(tx)
    report.changes += len(changes)
    if tx.ops:
        report.versions.append(tx.committed_version)  # type: ignore[arg-type]


def _entry(tx: Transaction, path: str) -> tuple[NodeRow | None, NodeRow | None, str]:
    """(the folder of ``path`` (from the root), what is at its name, the name), the folder found
    through the folder rows carried; a None folder: not a plain path to a folder (walk it)."""
    head, _, name = path.rpartition("/")
    if not is_plain(name):
        return None, None, name
    if not head:
        folder = tx.node(ROOT_ID)
    else:
        folder = tx.folders.folder(tx, head) if tx.folders is not None else None
    if folder is None:
        return None, None, name
    return folder, tx.lookup(folder.node_id, name), name


def _remove(pond: Pond, tx: Transaction, path: str) -> None:
    """``root.remove("/" + path)`` of a file or symlink, its folder found through the folder rows
    carried; anything else (a directory there, nothing there) through the general walk."""
    row = _entry(tx, path)[1]
    if row is None or row.kind == "dir":
        pond.root.remove("/" + path)
        return
    tx.remove(row, "/" + path, recursive=False)


def _rename(pond: Pond, tx: Transaction, change: Change, adds: list[Change]) -> None:
    """A git rename as a move (its new content, if any, is written with the adds); file <-> symlink,
    or a symlink with another target: remove, add. A file or symlink moved to a free name in a folder
    that is there is moved directly (both folders found through the folder rows carried), anything
    else through ``root.rename``, which raises the errors."""
    root = pond.root
    if SYMLINK in (change.old_mode, change.new_mode) and (
            change.old_mode != change.new_mode or change.old_sha != change.new_sha):
        _remove(pond, tx, str(change.old_path))
        adds.append(change)
        return
    row = _entry(tx, str(change.old_path))[1]
    if row is not None and row.kind != "dir":
        folder, there, name = _entry(tx, change.path)
        if folder is not None and there is None:
            tx.move(row, folder, name, "/" + str(change.old_path))
            if change.old_sha != change.new_sha:
                adds.append(change)
            return
    try:
        root.rename("/" + str(change.old_path), "/" + change.path)
    except PathNotFoundError:  # (its folder is new: made here, not walked for every rename into a folder)
        if not _parent(change.path):
            raise
        root.create_dir_path("/" + _parent(change.path), parents=True, exist_ok=True)
        root.rename("/" + str(change.old_path), "/" + change.path)
    if change.old_sha != change.new_sha:
        adds.append(change)


def _prune(pond: Pond, tx: Transaction, emptied: set[str], folders: Folders) -> None:
    """Remove the folders the commit emptied, and their ancestors that it emptied too: those git's
    tree no longer has (``folders``). A folder still holding something in the pond (put there
    outside the import) is kept."""
    root = pond.root
    for folder in sorted(emptied, key=len, reverse=True):
        while folder and folders.empty(folder):
            try:
                found = resolve(tx, ROOT_ID, folder, False)
            except (PathNotFoundError, NotADirError):
                break
            row = found.row
            if row is None or row.kind != "dir" or tx.child_names(row.node_id):
                break
            root.remove("/" + folder)
            folder = _parent(folder)


def _add(pond: Pond, adds: list[Change], contents: Contents) -> None:
    """Added and edited files and added symlinks, in one bulk ingest (missing directories made; a
    file already there gets the new content as a write). Files only, all read and hashed ahead (the
    usual commit): their batch is built from those digests (``bulk.batch_of_files``)."""
    paths, kinds, datas, targets = [], [], [], []
    digests = contents.digests
    if all(change.new_mode != SYMLINK and change.new_sha in digests for change in adds):  # files read ahead
        paths, datas = [change.path for change in adds], [contents.read(change.new_sha) for change in adds]
        hexes = [digests[change.new_sha] for change in adds]
        if len(adds) <= SMALL_BATCH:  # (the usual commit: staged from these lists)
            stage_files(pond._tx(), pond.root, paths, datas, hexes,  # type: ignore[arg-type]
                        lambda *files: batch_of_files(pond, *files))
        else:
            create(pond, pond.root, batch_of_files(pond, paths, datas, hexes), True, True, None, None)
        return
    for change in adds:
        data = contents.read(change.new_sha)
        paths.append(change.path)  # relative to the root: bulk resolves each folder from its parent's row
        if change.new_mode == SYMLINK:
            kinds.append("symlink")
            datas.append(None)
            targets.append(_text(data, "a symlink target"))
        else:
            kinds.append("file")
            datas.append(data)
            targets.append(None)
    table = pa.table({"path": pa.array(paths, pa.string()), "kind": pa.array(kinds, pa.string()),
                      "content": pa.array(datas, pa.large_binary()), "target": pa.array(targets, pa.string())})
    pond.ingest(table, "/", exist_ok=True)


def describe(report: ImportReport) -> dict[str, Any]:
    """The report as plain data (for --json)."""
    from dataclasses import asdict

    return asdict(report)

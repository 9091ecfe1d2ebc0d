"""Model-based test of branches (issue 15): a pond and a per-branch model driven side by side.

The model is deliberately simpler than the pond: files only (in "/" and a fixed "/d"), each a
model node with an identity, a path and a content; every branch keeps its states by version.
Contents are unique per write, but revert and restore bring old contents back, so the "same
file on both sides" rule of the merge is exercised too.
Its merge is an independent three-way over those nodes with the issue's rules. After every
step each branch is compared with the model, through the live Pond, a freshly opened one, and
at an earlier version. CI runs a few examples; TINYLOGSQL_NIGHTLY=1 runs many more.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from reliability_helpers import scale

from tinylogsql import MergeConflictError, Pond

PATHS = ("/a", "/b", "/c", "/d/a", "/d/b")
NAMES = ("main", "f1", "f2", "f3")
State = dict[str, tuple[str, bytes]]  # model node id -> (path, content)


class Line:
    """One branch of the model: its parent and fork, and its states by version (inherited ones first)."""

    def __init__(self, parent: str | None, fork: int | None, states: list[tuple[int, State]]) -> None:
        self.parent, self.fork, self.states = parent, fork, states
        self.own: list[int] = []  # versions of commits on this branch itself

    @property
    def state(self) -> State:
        return self.states[-1][1]

    def at(self, version: int) -> State:
        return [state for v, state in self.states if v <= version][-1]

    def commits(self) -> list[int]:
        return [v for v, _ in self.states]


def by_path(state: State) -> dict[str, bytes]:
    return {path: content for path, content in state.values()}


def occupant(state: State, path: str) -> str | None:
    return next((node for node, (p, _) in state.items() if p == path), None)


class BranchModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="tinylogsql-branches-"))
        self.pond = Pond.create(self.folder / "pond", author="model")
        self.pond.root.create_dir_path("/d")
        self.ponds = {"main": self.pond}
        self.lines = {"main": Line(None, None, [(self.pond.version, {})])}
        self.merged: dict[tuple[str, str], int] = {}  # (target, source) -> source version last merged
        self.origin: dict[str, dict[str, tuple[str, int]]] = {}  # branch -> node -> (branch merged, version):
        # nodes whose last change on the branch came from a merge of another branch
        self.ids = itertools.count()
        self.contents = itertools.count()

    def teardown(self) -> None:
        for pond in self.ponds.values():
            pond.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------
    def commit(self, branch: str, state: State, version: int | None) -> None:
        if version is None:
            return
        line = self.lines[branch]
        before = line.state
        origin = self.origin.setdefault(branch, {})
        for node in set(before) | set(state):
            if before.get(node) != state.get(node):
                origin.pop(node, None)  # changed on this branch itself (a merge sets it again below)
        line.states.append((version, state))
        line.own.append(version)

    def content(self) -> bytes:
        return f"content {next(self.contents)}".encode()

    def chain(self, name: str) -> list[tuple[str, int]]:
        """(branch, upto) from the branch up to main, as the pond's ancestry."""
        out, upto = [], 2**62
        while name is not None:
            out.append((name, upto))
            line = self.lines[name]
            if line.fork is not None:
                upto = min(upto, line.fork)
            name = line.parent  # type: ignore[assignment]
        return out

    def merge_base(self, target: str, source: str) -> int:
        if (target, source) in self.merged:
            return self.merged[(target, source)]
        mine = dict(self.chain(target))
        return next(min(upto, mine[name]) for name, upto in self.chain(source) if name in mine)

    # -- rules --------------------------------------------------------------------------------
    @rule(data=st.data(), name=st.sampled_from(NAMES[1:]))
    def create_branch(self, data: st.DataObject, name: str) -> None:
        if name in self.lines:
            return
        parent = data.draw(st.sampled_from(sorted(self.lines)))
        pond = self.ponds[parent].create_branch(name)
        fork = self.ponds[parent].version
        self.ponds[name] = pond
        inherited = [(v, s) for v, s in self.lines[parent].states if v <= fork]
        self.lines[name] = Line(parent, fork, inherited)

    @rule(data=st.data(), path=st.sampled_from(PATHS))
    def write(self, data: st.DataObject, path: str) -> None:
        branch = data.draw(st.sampled_from(sorted(self.lines)))
        content = self.content()
        self.ponds[branch].root.write_file_path(path, content)
        state = dict(self.lines[branch].state)
        node = occupant(state, path) or f"n{next(self.ids)}"
        state[node] = (path, content)
        self.commit(branch, state, self.ponds[branch].last_committed_version)

    @rule(data=st.data(), src=st.sampled_from(PATHS), dst=st.sampled_from(PATHS))
    def move(self, data: st.DataObject, src: str, dst: str) -> None:
        branch = data.draw(st.sampled_from(sorted(self.lines)))
        state = dict(self.lines[branch].state)
        node = occupant(state, src)
        if node is None or src == dst or occupant(state, dst) is not None:
            return
        self.ponds[branch].root.rename(src, dst)
        state[node] = (dst, state[node][1])
        self.commit(branch, state, self.ponds[branch].last_committed_version)

    @rule(data=st.data(), path=st.sampled_from(PATHS))
    def remove(self, data: st.DataObject, path: str) -> None:
        branch = data.draw(st.sampled_from(sorted(self.lines)))
        state = dict(self.lines[branch].state)
        node = occupant(state, path)
        if node is None:
            return
        self.ponds[branch].root.remove(path)
        del state[node]
        self.commit(branch, state, self.ponds[branch].last_committed_version)

    @rule(data=st.data(), strategy=st.sampled_from(["fail", "ours", "theirs"]))
    def merge(self, data: st.DataObject, strategy: str) -> None:
        target = data.draw(st.sampled_from(sorted(self.lines)))
        source = data.draw(st.sampled_from(sorted(set(self.lines) - {target}) or ["main"]))
        if source == target:
            return
        expected, conflicts, new = self.model_merge(target, source, strategy)
        if conflicts and strategy == "fail":
            try:
                self.ponds[target].merge(source, strategy=strategy)
            except MergeConflictError as error:
                assert len(error.conflicts) == conflicts
            else:
                raise AssertionError("expected a MergeConflictError")
            return
        result = self.ponds[target].merge(source, strategy=strategy)
        assert len(result.conflicts) == conflicts
        assert (result.version is not None) == new
        if result.version is not None:
            self.merged[(target, source)] = self.ponds[source].version
            before = self.lines[target].state
            self.commit(target, expected, result.version)
            origin = self.origin.setdefault(target, {})
            for node in set(before) | set(expected):
                if before.get(node) != expected.get(node):
                    origin[node] = (source, result.version)

    def model_merge(self, target: str, source: str, strategy: str) -> tuple[State, int, bool]:
        """The three-way merge over model nodes: (merged state, conflict count, anything new?)."""
        base_version = self.merge_base(target, source)
        src = self.lines[source]
        head = self.ponds[source].version
        new = any(base_version < v <= head for v in src.commits())
        if not new:
            return self.lines[target].state, 0, False
        base, theirs, ours = src.at(base_version), src.state, dict(self.lines[target].state)
        merged, conflicts = dict(ours), 0
        # what the source last got from a merge of ours and has not changed since: ours, travelled there
        back = {node for node, (branch, v) in self.origin.get(source, {}).items()
                if branch == target and v > base_version}
        place: list[tuple[str, tuple[str, bytes]]] = []
        for node in sorted(set(base) | set(theirs)):
            b, t, o = base.get(node), theirs.get(node), ours.get(node)
            if b == t or node in back:
                continue
            if b is None and o is not None and t is not None:  # not at the base, on both sides: it travelled
                if o == t:
                    continue
                if node not in self.origin.get(target, {}):  # ours changed it since it came, theirs too
                    conflicts += 1
                    if strategy != "theirs":
                        continue
                b = o  # ours as it came from a merge: what theirs changed since applies
            if t is None:
                if o is None:
                    continue
                if b is not None and o != b:
                    conflicts += 1
                    if strategy != "theirs":
                        continue
                del merged[node]
            elif b is None:
                place.append((node, t))
            elif o is None:
                conflicts += 1
                if strategy == "theirs":
                    place.append((f"n{next(self.ids)}", t))
            else:
                path, content = o
                if b[0] != t[0] and o[0] != t[0]:
                    if b[0] == o[0]:
                        path = t[0]
                    else:
                        conflicts += 1
                        path = t[0] if strategy == "theirs" else o[0]
                if b[1] != t[1] and o[1] != t[1]:
                    if b[1] == o[1]:
                        content = t[1]
                    else:
                        conflicts += 1
                        content = t[1] if strategy == "theirs" else o[1]
                if path != o[0]:
                    place.append((node, (path, content)))
                else:
                    merged[node] = (path, content)
        deferred = []
        for node, (path, content) in place:
            if occupant(merged, path) not in (None, node):
                deferred.append((node, (path, content)))
            else:
                merged[node] = (path, content)
        for node, (path, content) in deferred:
            other = occupant(merged, path)
            if other not in (None, node) and merged[other][1] == content:
                merged.pop(node, None)  # the same file on both sides: one node, ours (no conflict)
                continue
            if other not in (None, node):
                conflicts += 1
                if strategy != "theirs":
                    if node in merged:  # it stays where ours has it; a content change still applies
                        merged[node] = (merged[node][0], content)
                    continue
                del merged[other]
            merged[node] = (path, content)
        return merged, conflicts, True

    @rule(data=st.data())
    def revert_last(self, data: st.DataObject) -> None:
        branch = data.draw(st.sampled_from(sorted(self.lines)))
        line = self.lines[branch]
        if len(line.states) < 2:
            return
        version = line.states[-1][0]
        previous, now = line.states[-2][1], line.state
        before = self.ponds[branch].version
        self.ponds[branch].revert(version)
        state = {}
        for node, value in previous.items():
            state[node if node in now else f"n{next(self.ids)}"] = value
        if self.ponds[branch].version != before:
            self.commit(branch, state, self.ponds[branch].version)
        else:
            assert by_path(previous) == by_path(now)

    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        branch = data.draw(st.sampled_from(sorted(self.lines)))
        line = self.lines[branch]
        version, old = data.draw(st.sampled_from(line.states))
        if not old:
            return
        node, (path, content) = data.draw(st.sampled_from(sorted(old.items())))
        before = self.ponds[branch].version
        self.ponds[branch].root.restore(path, version)
        state = dict(line.state)
        other = occupant(state, path)
        if other is not None and other != node:
            del state[other]
        state[node if node in state else f"n{next(self.ids)}"] = (path, content)
        if by_path(state) != by_path(line.state) or self.ponds[branch].version != before:
            self.commit(branch, state, self.ponds[branch].last_committed_version)

    # -- checks ------------------------------------------------------------------------------
    @invariant()
    def branches_match_the_model(self) -> None:
        for name, line in self.lines.items():
            assert self.files(self.ponds[name]) == by_path(line.state), name
        assert sorted(b.name for b in self.pond.branches()) == sorted(self.lines)

    @rule(data=st.data())
    def fresh_pond_and_earlier_version(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.lines)))
        with Pond.open(self.folder / "pond", branch=name) as fresh:
            assert self.files(fresh) == by_path(self.lines[name].state)
            version, state = data.draw(st.sampled_from(self.lines[name].states))
            assert self.files(fresh.at(version)) == by_path(state)

    @staticmethod
    def files(pond: Pond) -> dict[str, bytes]:
        found = {}
        for top, _dirs, names in pond.root.walk("/"):
            for name in names:
                path = f"{top.rstrip('/')}/{name}"
                found[path] = pond.root.read_file_path(path)
        return found


BranchModel.TestCase.settings = settings(
    max_examples=scale(6, 300),
    stateful_step_count=scale(14, 40),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestBranchModel = BranchModel.TestCase

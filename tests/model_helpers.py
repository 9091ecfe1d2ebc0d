"""The model behind test_model.py and test_txn_creates.py: a dict from path to entry with os.rename's
rules written out by hand, the ops hypothesis draws, and how to apply them to a pond and read it back."""

from __future__ import annotations

import errno

import hypothesis.strategies as st

from tinylogsql import InvalidMoveError, Pond

PREFIXES = ["", "a/", "b/", "a/b/", "b/a/"]
DIR_PATHS = [p + n for p in PREFIXES for n in ("a", "b") if (p + n).count("/") < 2]
FILE_PATHS = [p + n for p in PREFIXES for n in ("f", "g")]
LINK_PATHS = [p + "s" for p in PREFIXES[:3]]

Entry = tuple[str, bytes | str | None]  # (kind, content for files / target for symlinks)
State = dict[str, Entry]


class Expected(Exception):
    """The model's verdict that an op fails, with the builtin class (and errno) the pond must raise."""

    def __init__(self, kind: type[BaseException], code: int | None = None) -> None:
        super().__init__(kind.__name__)
        self.kind, self.code = kind, code


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _need_parent(state: State, path: str) -> None:
    parent = _parent(path)
    if parent and parent not in state:
        raise Expected(FileNotFoundError)


def _subtree(state: State, path: str) -> list[str]:
    return [p for p in state if p == path or p.startswith(path + "/")]


def model_apply(state: State, op: tuple) -> bool:  # type: ignore[type-arg]
    """Apply ``op`` to ``state`` in place; True if it changes anything (i.e. commits). Raises Expected."""
    kind = op[0]
    if kind in ("mkdir", "create", "symlink"):
        path = op[1]
        _need_parent(state, path)
        if path in state:
            raise Expected(FileExistsError)
        state[path] = ("dir", None) if kind == "mkdir" else ("file" if kind == "create" else "symlink", op[2])
        return True
    if kind == "write":
        path, data = op[1], op[2]
        _need_parent(state, path)
        state[path] = ("file", data)
        return True
    if kind == "remove":
        path, recursive = op[1], op[2]
        if path not in state:
            raise Expected(FileNotFoundError)
        below = _subtree(state, path)
        if len(below) > 1 and not recursive:
            raise Expected(OSError, errno.ENOTEMPTY)
        for p in below:
            del state[p]
        return True
    if kind == "rename":
        src, dst = op[1], op[2]
        if src not in state:
            raise Expected(FileNotFoundError)
        _need_parent(state, dst)
        if state[src][0] == "dir" and dst.startswith(src + "/"):
            raise Expected(InvalidMoveError)
        if src == dst:
            return False
        if dst in state:
            if len(_subtree(state, dst)) > 1:
                raise Expected(OSError, errno.ENOTEMPTY)
            del state[dst]
        for p in _subtree(state, src):
            state[dst + p[len(src):]] = state.pop(p)
        return True
    raise AssertionError(kind)


def pond_apply(pond: Pond, op: tuple) -> None:  # type: ignore[type-arg]
    root = pond.root
    kind = op[0]
    if kind == "mkdir":
        root.create_dir_path(op[1])
    elif kind == "create":
        root.create_file_path(op[1], op[2])
    elif kind == "symlink":
        root.create_symlink_path(op[1], op[2])
    elif kind == "write":
        root.write_file_path(op[1], op[2])
    elif kind == "remove":
        root.remove(op[1], recursive=op[2])
    elif kind == "rename":
        root.rename(op[1], op[2])


def listing(pond: Pond) -> State:
    """Everything in the pond, through the public API, without following symlinks."""
    state: State = {}

    def visit(directory: object, prefix: str) -> None:
        for name, node in directory.entries():  # type: ignore[attr-defined]
            path = prefix + name
            if node.kind == "dir":
                state[path] = ("dir", None)
                visit(node, path + "/")
            elif node.kind == "file":
                state[path] = ("file", node.read())
            else:
                state[path] = ("symlink", node.target)

    visit(pond.root, "")
    return state


def normalise(state: State) -> State:
    return {p: (k, v.encode() if isinstance(v, str) and k == "file" else v) for p, (k, v) in state.items()}


big_contents = st.integers(0, 255).map(lambda byte: bytes([byte]) * (65 * 1024))  # stored as a blob
contents = st.one_of(st.binary(max_size=40), st.text(max_size=20), big_contents)
ops = st.one_of(
    st.tuples(st.just("mkdir"), st.sampled_from(DIR_PATHS)),
    st.tuples(st.just("create"), st.sampled_from(FILE_PATHS), contents),
    st.tuples(st.just("symlink"), st.sampled_from(LINK_PATHS), st.sampled_from(["/a/f", "f", "../b", "/nowhere"])),
    st.tuples(st.just("write"), st.sampled_from(FILE_PATHS), contents),
    st.tuples(st.just("remove"), st.sampled_from(DIR_PATHS + FILE_PATHS + LINK_PATHS), st.booleans()),
    st.tuples(st.just("rename"), st.sampled_from(DIR_PATHS), st.sampled_from(DIR_PATHS)),
    st.tuples(st.just("rename"), st.sampled_from(FILE_PATHS), st.sampled_from(FILE_PATHS)),
    st.tuples(st.just("rename"), st.sampled_from(LINK_PATHS), st.sampled_from(LINK_PATHS)),
)

"""What `-o` writes through and what an input is read from: device nodes, FIFOs, symlinks,
directories, permissions, full disks, endless inputs and parser limits. Every failure is one line
on stderr naming the file, exit code 2, and whatever was already written stays whole.

Device nodes are made with os.mknod in the test's own folder (never the system's /dev/null):
run with -s to see the before/after `ls -l` of the /dev/null-like node.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import KRCOACH, ROOT, run_cli

EXAMPLE_MD = ROOT / "examples" / "team-okrs.md"  # 11 key results
SETPRIV = shutil.which("setpriv")


# ------------------------------------------------------------------------------------ helpers


def _mknod(path: Path, minor: int) -> Path:
    """A character device of the memory driver (major 1): minor 3 is null, 7 is full."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    return path


def _ls(path: Path) -> str:
    return subprocess.run(["ls", "-l", str(path)], capture_output=True, text=True).stdout.strip()


def _one_line_error(proc: subprocess.CompletedProcess, *parts: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines(keepends=True) if not line.startswith("krcoach: note: ")]
    assert len(lines) == 1 and lines[0].startswith("krcoach: error: ") and lines[0].endswith("\n"), proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr
    for part in parts:
        assert part in proc.stderr, proc.stderr


class _Reader(threading.Thread):
    """Reads a FIFO to its end, as `cat fifo` would."""

    def __init__(self, fifo: Path) -> None:
        super().__init__(daemon=True)
        self.fifo, self.data = fifo, b""

    def run(self) -> None:
        with open(self.fifo, "rb") as fh:
            self.data = fh.read()


class _Writer(threading.Thread):
    """Writes `data` into a FIFO and closes it; a reader that stops early is no failure."""

    def __init__(self, fifo: Path, data: bytes) -> None:
        super().__init__(daemon=True)
        self.fifo, self.data = fifo, data

    def run(self) -> None:
        try:
            with open(self.fifo, "wb") as fh:
                fh.write(self.data)
        except BrokenPipeError:
            pass


def _unprivileged(tmp_path: Path) -> list[str]:
    """A command prefix under which file permissions hold: nothing for a normal user; for root,
    setpriv without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (root ignores modes otherwise)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if SETPRIV is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        prefix = [SETPRIV, "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all", "--"]
    locked = tmp_path / "probe"
    locked.write_text("x")
    locked.chmod(0)
    probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(locked)!r}).read()"], capture_output=True)
    locked.unlink()
    if probe.returncode == 0:
        pytest.skip("file permissions are not enforced for this user")
    return prefix


def _run(*args: str, prefix: list[str] | None = None, stdin: bytes | None = None, env: dict[str, str] | None = None,
         timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    proc = subprocess.run([*(prefix or []), *KRCOACH, *args], input=stdin, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=timeout, **kwargs)
    proc.stdout = (proc.stdout or b"").decode("utf-8", "replace")  # type: ignore[assignment]
    proc.stderr = (proc.stderr or b"").decode("utf-8", "replace")  # type: ignore[assignment]
    return proc


def _file_size_limit(n: int):  # type: ignore[no-untyped-def]
    """In the child: no file may grow past n bytes (writes fail with EFBIG, as on a full disk;
    Python ignores SIGXFSZ), a real write failure in the middle of the output."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    return limit


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------- -o writes through things


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_output_to_a_null_device_keeps_the_device(tmp_path: Path, fmt: str) -> None:
    node = _mknod(tmp_path / "null", 3)
    before, st_before = _ls(node), os.lstat(node)
    proc = run_cli("review", str(EXAMPLE_MD), "-f", fmt, "-o", str(node))
    after, st = _ls(node), os.lstat(node)
    print(f"\nkrcoach review {EXAMPLE_MD.name} -f {fmt} -o {node}\nbefore: {before}\nafter:  {after}")
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(st.st_mode), f"the device node was replaced: {after}"
    assert st.st_rdev == os.makedev(1, 3) and (st.st_ino, st.st_mode) == (st_before.st_ino, st_before.st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"], "no temporary file left beside it"


@pytest.mark.parametrize("name", ["fifo.json", "fifo.jsonl", "fifo.md"])
def test_output_to_a_fifo_is_written_through_to_its_reader(tmp_path: Path, name: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    reader = _Reader(fifo)
    reader.start()
    proc = run_cli("review", str(EXAMPLE_MD), "-o", str(fifo))
    reader.join(30)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"
    text = reader.data.decode()
    if name.endswith(".json"):
        assert len(json.loads(text)["records"]) == 11
    elif name.endswith(".jsonl"):
        assert len([json.loads(line) for line in text.splitlines()]) == 11
    else:
        assert text.count("### ") == 11
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_output_through_a_symlink_writes_its_target(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "data" / f"review.{fmt}"
    target.parent.mkdir()
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / f"link.{fmt}"
    link.symlink_to(Path("data") / target.name)  # relative, as people make them
    proc = run_cli("review", str(EXAMPLE_MD), "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(Path("data") / target.name), "the link stays a link"
    text = target.read_text()
    assert len(json.loads(text)["records"] if fmt == "json" else _records(target)) == 11
    assert stat.S_IMODE(target.stat().st_mode) == 0o640, "the target keeps its permissions"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name], "no temporary file left"


def test_output_through_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "new.json")
    proc = run_cli("review", str(EXAMPLE_MD), "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and len(json.loads((tmp_path / "new.json").read_text())["records"]) == 11


def test_output_through_a_symlink_to_a_device_keeps_both(tmp_path: Path) -> None:
    node = _mknod(tmp_path / "null", 3)
    link = tmp_path / "out.json"
    link.symlink_to(node)
    proc = run_cli("review", str(EXAMPLE_MD), "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and stat.S_ISCHR(os.lstat(node).st_mode)


def test_output_to_dev_stdout_writes_to_the_pipe() -> None:
    proc = run_cli("review", str(EXAMPLE_MD), "-f", "jsonl", "-o", "/dev/stdout")
    assert proc.returncode == 0, proc.stderr
    assert len([json.loads(line) for line in proc.stdout.splitlines()]) == 11


def test_output_to_a_new_file_gets_normal_permissions(tmp_path: Path) -> None:
    out = tmp_path / "review.json"
    old = os.umask(0o022)
    try:
        proc = run_cli("review", str(EXAMPLE_MD), "-o", str(out))
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644, "0666 less the umask, like any new file"


@pytest.mark.parametrize("how", ["directory", "symlink to a directory", "symlink loop", "missing folder"])
def test_output_that_cannot_be_a_file_is_a_one_line_error(tmp_path: Path, how: str) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    if how == "directory":
        out, expected = folder, "--output is a directory"
    elif how == "symlink to a directory":
        out, expected = tmp_path / "link.json", "--output is a directory"
        out.symlink_to(folder)
    elif how == "symlink loop":
        out, expected = tmp_path / "loop.json", "cannot write: Too many levels of symbolic links"
        out.symlink_to(out)
    else:
        out, expected = tmp_path / "nope" / "out.json", f"folder {tmp_path / 'nope'} does not exist"
    proc = run_cli("review", str(EXAMPLE_MD), "-f", "json", "-o", str(out))
    _one_line_error(proc, f"{out}: ", expected)
    assert folder.is_dir() and not any(folder.iterdir())


# ------------------------------------------------------------------ output failures: exit code 2


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "md", "table"])
def test_full_device_is_a_one_line_error(tmp_path: Path, fmt: str) -> None:
    full = _mknod(tmp_path / "full", 7)  # writes fail with ENOSPC, like a full disk
    proc = run_cli("review", str(EXAMPLE_MD), "-f", fmt, "-o", str(full))
    _one_line_error(proc, f"{full}: cannot write: No space left on device")
    if fmt in ("jsonl", "csv"):
        assert "stopped after 0 of 11 key results" in proc.stderr
    assert stat.S_ISCHR(os.lstat(full).st_mode)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_full_stdout_is_a_one_line_error(tmp_path: Path, fmt: str) -> None:
    full = _mknod(tmp_path / "full", 7)
    with open(full, "wb") as stdout:
        proc = _run("review", str(EXAMPLE_MD), "-f", fmt, stdout=stdout)
    _one_line_error(proc, "krcoach: error: <stdout>: cannot write: No space left on device")
    assert "Exception ignored" not in proc.stderr, "no second complaint from the interpreter's last flush"


def test_streamed_output_cut_short_keeps_every_complete_record(tmp_path: Path) -> None:
    src = tmp_path / "many.jsonl"
    src.write_text("".join(json.dumps({"kr": f"Grow weekly active teams from {i} to {i + 50} by Q3",
                                       "objective": f"Objective {i // 3}"}) + "\n" for i in range(3000)))
    out = tmp_path / "out.jsonl"
    proc = _run("review", str(src), "-f", "jsonl", "-o", str(out), preexec_fn=_file_size_limit(300_000))
    _one_line_error(proc, f"{out}: cannot write: File too large; stopped after ",
                    f"the complete records written before it are kept in {out}")
    done = int(proc.stderr.split("stopped after ")[1].split(" of ")[0].replace(",", ""))
    records = _records(out)  # every line parses: no half record at the end
    assert 0 < done < 3000 and len(records) == done and done % 3 == 0, "whole objectives only"
    assert out.stat().st_size <= 300_000


def test_whole_document_cut_short_leaves_the_old_file(tmp_path: Path) -> None:
    src = tmp_path / "many.md"
    src.write_text("".join(f"- Grow weekly active teams from {i} to {i + 50} by Q3\n" for i in range(300)))
    out = tmp_path / "out.json"
    out.write_text('{"old": true}\n')
    proc = _run("review", str(src), "-o", str(out), preexec_fn=_file_size_limit(50_000))
    _one_line_error(proc, f"{out}: cannot write: File too large; {out} was left as it was")
    assert out.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.md", "out.json"], "temporary file removed"


@pytest.mark.parametrize(("what", "fmt"), [("read-only folder", "json"), ("read-only folder", "jsonl"),
                                           ("read-only file", "json"), ("read-only file", "jsonl")])
def test_unwritable_output_is_a_one_line_error(tmp_path: Path, what: str, fmt: str) -> None:
    prefix = _unprivileged(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / f"review.{fmt}"
    if what == "read-only file":
        out.write_text("old\n")
        out.chmod(0o444)
    else:
        folder.chmod(0o555)
    try:
        proc = _run("review", str(EXAMPLE_MD), "-o", str(out), prefix=prefix)
    finally:
        folder.chmod(0o755)
    _one_line_error(proc, f"{out}: cannot write", "Permission denied")
    assert (out.read_text() == "old\n") if what == "read-only file" else not out.exists()
    assert sorted(p.name for p in folder.iterdir()) == ([out.name] if what == "read-only file" else [])


# ----------------------------------------------------------------------------------- inputs


def test_fifo_input_is_read_like_stdin(tmp_path: Path) -> None:
    fifo = tmp_path / "okrs.md"
    os.mkfifo(fifo)
    writer = _Writer(fifo, EXAMPLE_MD.read_bytes())
    writer.start()
    proc = run_cli("review", str(fifo), "-f", "jsonl", timeout=30)
    writer.join(10)
    assert proc.returncode == 0, proc.stderr
    assert len([json.loads(line) for line in proc.stdout.splitlines()]) == 11


def test_fifo_input_is_bounded(tmp_path: Path) -> None:
    fifo = tmp_path / "okrs.md"
    os.mkfifo(fifo)
    writer = _Writer(fifo, b"- Ship v2\n" * 1000)
    writer.start()
    proc = run_cli("review", str(fifo), env={"KRCOACH_MAX_INPUT_BYTES": "4K"}, timeout=30)
    writer.join(10)
    _one_line_error(proc, f"{fifo}: larger than 4,096 bytes; split it or raise KRCOACH_MAX_INPUT_BYTES")


def test_endless_input_ends_with_the_limit_message(tmp_path: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    link = tmp_path / "okrs.md"
    link.symlink_to("/dev/zero")
    started = time.monotonic()
    proc = run_cli("review", str(link), timeout=60)
    seconds = time.monotonic() - started
    _one_line_error(proc, f"{link}: larger than 256 MiB; split it or raise KRCOACH_MAX_INPUT_BYTES")
    assert seconds < 20, f"took {seconds:.1f} s"


def test_input_limit_applies_to_files_and_stdin(tmp_path: Path) -> None:
    from krcoach import formats

    assert formats.MAX_INPUT_BYTES == 256 * 1024 * 1024
    src = tmp_path / "okrs.md"
    src.write_bytes(b"- Ship v2\n" * 200)  # 2,000 bytes
    proc = run_cli("review", str(src), env={"KRCOACH_MAX_INPUT_BYTES": "1999"})
    _one_line_error(proc, f"{src}: larger than 1,999 bytes; split it or raise KRCOACH_MAX_INPUT_BYTES")
    assert run_cli("review", str(src), "--compact", env={"KRCOACH_MAX_INPUT_BYTES": "2000"}).returncode == 0
    proc = run_cli("review", "-", stdin=b"- Ship v2\n" * 200, env={"KRCOACH_MAX_INPUT_BYTES": "1999"})
    _one_line_error(proc, "<stdin>: larger than 1,999 bytes")
    proc = run_cli("review", "-", "-f", "jsonl", stdin=b"- Ship v2\n" * 200, env={"KRCOACH_MAX_INPUT_BYTES": "2000"})
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 200, proc.stderr
    proc = run_cli("review", "-", stdin=b"x" * (1024 * 1024 + 1), env={"KRCOACH_MAX_INPUT_BYTES": "1M"})
    _one_line_error(proc, "<stdin>: larger than 1 MiB")
    proc = run_cli("review", str(src), env={"KRCOACH_MAX_INPUT_BYTES": "lots"})
    _one_line_error(proc, "KRCOACH_MAX_INPUT_BYTES: 'lots' is not a size")


def test_readme_documents_the_input_limit() -> None:
    readme = (ROOT / "README.md").read_text()
    inputs = readme.split("### Input formats", 1)[1].split("\n### ", 1)[0]
    assert "256 MiB" in inputs and "KRCOACH_MAX_INPUT_BYTES" in inputs
    codes = readme.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    assert "cannot write" in codes


@pytest.mark.parametrize("how", ["unreadable file", "file in an unreadable folder"])
def test_unreadable_input_is_a_one_line_error(tmp_path: Path, how: str) -> None:
    prefix = _unprivileged(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    src = folder / "okrs.md"
    src.write_text("- Ship v2\n")
    locked = src if how == "unreadable file" else folder
    locked.chmod(0)
    try:
        proc = _run("review", str(src), prefix=prefix)
    finally:
        locked.chmod(0o755)
    _one_line_error(proc, f"{src}: cannot read: Permission denied")


# ------------------------------------------------------------------------------ parser limits

DEEP = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = "1" * 5000


@pytest.mark.parametrize(("name", "data", "message"), [
    ("deep.json", DEEP, "deep.json: nested too deeply to read"),
    ("deep.jsonl", '{"kr": "Ship v2"}\n{"kr": "Ship v3", "x": ' + DEEP + "}\n", "deep.jsonl: line 2: nested too deeply"),
    ("nested.json", '{"objectives": [{"objective": "Grow", "key_results": ' + DEEP + "}]}",
     "nested.json: nested too deeply to read"),
    ("number.json", '[\n {"kr": "Ship v2"},\n {"kr": "Ship v3", "id": ' + LONG_NUMBER + "}\n]\n",
     "number.json: line 3: a number with 5,000 digits; the limit is 4,300"),
    ("number.jsonl", '{"kr": "Ship v2"}\n{"kr": "Ship v3", "target": ' + LONG_NUMBER + "}\n",
     "number.jsonl: line 2: a number with 5,000 digits"),
    ("bad.jsonl", b'{"kr": "Ship v2"}\n{"kr": "Ship v3"}\n{"kr": "Caf\xe9"}\n', "bad.jsonl: line 3: text is not UTF-8"),
    ("bad.md", b"- Ship v2\n- Caf\xc3\x28\n", "bad.md: line 2: text is not UTF-8"),
])
def test_parser_limits_are_one_line_errors(tmp_path: Path, name: str, data: str | bytes, message: str) -> None:
    src = tmp_path / name
    src.write_bytes(data.encode() if isinstance(data, str) else data)
    out = tmp_path / "out.jsonl"
    proc = run_cli("review", str(src), "-o", str(out))
    _one_line_error(proc, message)
    assert not out.exists()
    # The same bytes on standard input.
    proc = run_cli("review", "-", stdin=src.read_bytes())
    _one_line_error(proc, "<stdin>: " + message.split(": ", 1)[1])


def test_json_just_within_the_limits_is_read(tmp_path: Path) -> None:
    src = tmp_path / "ok.jsonl"
    src.write_text(json.dumps({"kr": "Ship v2", "x": json.loads("[" * 200 + "]" * 200), "n": int("9" * 4000)}) + "\n")
    proc = run_cli("review", str(src), "-f", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n"] == "9" * 4000

"""What the benchmarks measure about a run and a server process: percentiles, memory, CPU time."""

from __future__ import annotations

import os
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation between the two nearest samples."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in KiB, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_peak_kib(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> int:
    """Run `cmd` to the end and return its peak resident memory (ru_maxrss, KiB on Linux), from
    the kernel's own accounting of that child (wait4), so nothing is sampled or missed."""
    import subprocess

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}")
    return int(usage.ru_maxrss)


def package_at(rev: str, root: Path, into: Path, env: dict[str, str]) -> Path | None:
    """The `krcoach` package as it was at git revision `rev`, unpacked under `into` and byte-compiled
    with `env` (as an install has it), for a reference measured in the same run. None without git
    or without that revision."""
    import subprocess
    import sys

    target = into / rev.replace("^", "p").replace("/", "_").replace("~", "t")
    target.mkdir(parents=True, exist_ok=True)
    try:
        archive = subprocess.run(["git", "-C", str(root), "archive", rev, "krcoach"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=False, capture_output=True, env=env)
    return target

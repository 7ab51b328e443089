"""Where the time of a path goes under load: py-spy samples the gunicorn workers while wrk runs,
and the folded stacks are summed into a short text profile (bench/profiles/<name>.txt).

py-spy (installed by `make bench`) reads the workers' memory from outside: the application runs
unchanged, at full speed between samples. The profile counts wall-clock samples of every worker,
idle ones included (a sync worker idles in `accept`/`select` while the load generator or
PostgreSQL has the core); the summary shows them apart.
"""

import shutil
import subprocess
from collections import Counter
from pathlib import Path

# Frames of a worker waiting for a request, not serving one.
IDLE = ("wait (selectors.py", "select (selectors.py", "sleep (gunicorn/workers/sync.py", "run_for_one", "wait_for_new")


def available(venv_bin):
    return (Path(venv_bin) / "py-spy").exists() or shutil.which("py-spy") is not None


def record(venv_bin, pid, seconds, folded_path):
    """Start sampling `pid` and its child processes for `seconds`; returns the Popen (wait on it)."""
    executable = str(Path(venv_bin) / "py-spy") if (Path(venv_bin) / "py-spy").exists() else "py-spy"
    return subprocess.Popen(
        [executable, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "200",
         "--duration", str(seconds), "--nonblocking", "--output", str(folded_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _frames(stack):
    """py-spy's raw format: "frame;frame;... count", frames "function (file:line)", led by
    "process N:..." with --subprocesses (and "thread ..." with --threads): the line numbers and
    those labels are dropped, so a function counts once whichever line was running."""
    frames = []
    for frame in stack.split(";"):
        if frame.startswith(("process ", "thread ")):
            continue
        frames.append(frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") and ":" in frame else frame)
    return frames


def summarize(folded_text, title, top=60):
    """Inclusive and self shares of the busy samples, per function (file), from folded stacks."""
    inclusive, own, busy, idle = Counter(), Counter(), 0, 0
    for line in folded_text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, n = _frames(stack), int(count)
        if not frames or any(marker in frames[-1] for marker in IDLE):
            idle += n
            continue
        busy += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"# {title}", "",
             f"py-spy, 200 samples/s of every gunicorn worker: {busy:,} busy samples, {idle:,} idle ones "
             "(a worker waiting for its next request).", "",
             "## Inclusive (share of busy samples in which the function is on the stack)", ""]
    lines += [f"{100 * n / max(busy, 1):5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "## Self (share of busy samples spent in the function itself)", ""]
    lines += [f"{100 * n / max(busy, 1):5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"

"""What `make run`, `make record` and `make gpu-check` show while a notebook executes.

One status line, rewritten in place on a terminal: the notebook, the code cell it is on (number and
first comment or code line), the elapsed time, and the last progress-bar line the kernel printed
(the training bar, an encoding bar). Where the output is not a terminal (CI logs, a file), a plain
line every minute instead, so a log shows that a long cell is still going without filling up.

``IPCKernelManager`` starts kernels over local sockets instead of TCP: the same kernel, without
ipykernel's "Kernel is running over TCP without encryption" warning on the screen.
"""
from __future__ import annotations

import re
import shutil
import sys
import threading
import time
from typing import TextIO

from jupyter_client.manager import KernelManager
from traitlets import default

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class IPCKernelManager(KernelManager):
    """A kernel manager whose kernels talk over Unix sockets beside their connection file."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc" if sys.platform != "win32" else "tcp"


def cell_title(source: str, width: int = 60) -> str:
    """What a cell does, in a few words: the comment lines at its top (``NBVAL`` markers and the
    ``extra code –`` label skipped), else its first line of code."""
    for line in (line.strip() for line in source.splitlines()):
        if not line or "NBVAL" in line:
            continue
        if not line.startswith("#"):
            return line[:width]
        text = re.sub(r"^extra code\s*[–-]\s*", "", line.lstrip("#").strip())
        if text:
            return text[:width]
    return ""


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """The status line of one notebook run; pass ``hooks()`` to papermill.

    >>> progress = Progress("03_fine_tuning", n_code_cells=40)   # doctest: +SKIP
    >>> with progress: pm.execute_notebook(..., **progress.hooks())   # doctest: +SKIP
    """

    def __init__(self, label: str, n_code_cells: int, stream: TextIO | None = None,
                 interval: float = 1.0, heartbeat: float = 60.0, prefix: str = "") -> None:
        self.label = label
        self.prefix = prefix      # what the caller already printed on this line ("[3/8] x ...")
        self.beats = 0
        self.total = n_code_cells
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else heartbeat
        self.number = 0
        self.title = ""
        self.bar = ""
        self.start = time.perf_counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- papermill / nbclient hooks ----------------------------------------------------------------
    def hooks(self) -> dict:
        """Keyword arguments for ``papermill.execute_notebook``: the cell hook, and this object as
        the file the kernel's output is copied to (only its last line is kept)."""
        return {"on_cell_start": self.on_cell_start, "stdout_file": self, "stderr_file": self}

    def on_cell_start(self, cell=None, cell_index=None, **_):
        if cell is None or cell.get("cell_type") != "code":
            return
        with self._lock:
            self.number += 1
            self.title = cell_title(cell.get("source", ""))
            self.bar = ""

    def write(self, text: str) -> int:
        """Keep the last non-empty line of the kernel's output (a tqdm bar redraws with ``\\r``)."""
        pieces = [p.strip() for p in re.split(r"[\r\n]", ANSI.sub("", str(text))) if p.strip()]
        if pieces:
            with self._lock:
                self.bar = pieces[-1]
        return len(text)

    def flush(self) -> None:
        pass

    # -- the line ----------------------------------------------------------------------------------
    def line(self) -> str:
        with self._lock:
            parts = [f"[{self.label}] cell {self.number}/{self.total}",
                     clock(time.perf_counter() - self.start)]
            if self.title:
                parts.insert(1, self.title)
            if self.bar:
                parts.append(self.bar)
        return " · ".join(parts)

    def _show(self) -> None:
        text = self.line()
        if self.tty:
            width = shutil.get_terminal_size((120, 20)).columns - 1
            self.stream.write("\r" + (self.prefix + text)[:width].ljust(width))
        else:  # a log: a line a minute, indented under the caller's line
            self.stream.write(("\n" if self.beats == 0 else "") + "  " + text + "\n")
            self.beats += 1
        self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._show()

    def __enter__(self) -> Progress:
        self.start = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.tty:  # back to the caller's text: it prints the notebook's result after it
            width = shutil.get_terminal_size((120, 20)).columns - 1
            self.stream.write("\r" + " " * width + "\r" + self.prefix)
        elif self.beats:
            self.stream.write("  ")
        self.stream.flush()

"""tools.progress: the status line of make run / record / gpu-check, and IPC kernels."""
from __future__ import annotations

import io
import time

from tools import progress


class TTY(io.StringIO):
    def isatty(self):
        return True


def test_cell_title_prefers_the_first_comment():
    assert progress.cell_title("# NBVAL_IGNORE_OUTPUT\n# extra code – imports\nimport os") == "imports"
    assert progress.cell_title("x = 1\n# later") == "x = 1"
    assert progress.cell_title("\n\n") == ""


def test_the_line_follows_cells_and_the_last_bar():
    status = progress.Progress("03_fine_tuning", n_code_cells=3, stream=io.StringIO())
    status.on_cell_start(cell={"cell_type": "markdown", "source": "# title"}, cell_index=0)
    status.on_cell_start(cell={"cell_type": "code", "source": "# train the model\nrun()"},
                         cell_index=1)
    status.write("\x1b[32m 10%|#  | 1/10\r 50%|#####  | 5/10\r")
    line = status.line()
    assert line.startswith("[03_fine_tuning] cell 1/3 · train the model · 0:0")
    assert line.endswith("50%|#####  | 5/10")
    status.on_cell_start(cell={"cell_type": "code", "source": "score()"}, cell_index=2)
    assert "cell 2/3 · score()" in status.line() and "5/10" not in status.line()


def test_a_terminal_gets_the_line_in_place_and_the_prefix_back():
    out = TTY()
    with progress.Progress("nb", 1, stream=out, interval=0.05, prefix="[1/1] nb ... ") as status:
        status.on_cell_start(cell={"cell_type": "code", "source": "# step"}, cell_index=0)
        time.sleep(0.2)
    text = out.getvalue()
    assert "\r[1/1] nb ... [nb] cell 1/1 · step · 0:00" in text
    assert text.endswith("\r[1/1] nb ... ") and "\n" not in text


def test_a_log_gets_a_line_a_minute_not_a_flood():
    out = io.StringIO()
    with progress.Progress("nb", 1, stream=out, heartbeat=0.05, prefix="[1/1] nb ... "):
        time.sleep(0.18)
    lines = out.getvalue().splitlines()
    assert 2 <= len([line for line in lines if line.startswith("  [nb] cell 0/1")]) <= 5
    assert out.getvalue().endswith("\n  ")  # the caller's "done in ..." lands on its own line
    quiet = io.StringIO()
    with progress.Progress("nb", 1, stream=quiet, heartbeat=60):
        pass
    assert quiet.getvalue() == ""


def test_kernels_use_local_sockets():
    assert progress.IPCKernelManager().transport == "ipc"

"""Interactive pieces that work in JupyterLab, classic Jupyter and Colab (04, 05, 06).

One place decides whether widgets can be shown (:func:`widget_library`), so that every notebook
behaves the same way: ipywidgets 7.7 (Colab's) and 8.x both work; without a usable ipywidgets the
notebook says so in one line and shows the same results as plain output. :func:`explorer` is the
query box (and, in 04, the size slider) over a function that returns a header line and a table;
:func:`uploaded_files` reads a ``FileUpload`` value in either ipywidgets format, and
:class:`Uploader` is 06's upload (a button, or Colab's own dialog).
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any

from . import data, paths
from .device import is_colab
from .tryit import SUFFIXES, preview, save_upload

MIN_IPYWIDGETS = (7, 7)
"""The oldest ipywidgets whose widgets the workbook uses (Colab ships 7.7.1)."""

Rendered = tuple[str, Any]
"""What an explorer's ``render`` returns: a header line and a table (or anything displayable)."""


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def widget_library() -> tuple[Any | None, str]:
    """``(ipywidgets, "")`` when usable here, else ``(None, why)`` with a one-line reason.

    On Colab with ipywidgets 8, Colab's custom widget manager is switched on (Colab renders
    ipywidgets 7 itself and 8 only through that manager).
    """
    try:
        import ipywidgets
    except ImportError:
        return None, "ipywidgets is not installed in this kernel"
    version = getattr(ipywidgets, "__version__", "0")
    if _version(version) < MIN_IPYWIDGETS:
        return None, (f"ipywidgets {version} is older than "
                      f"{'.'.join(map(str, MIN_IPYWIDGETS))}")
    if is_colab() and _version(version) >= (8,):
        try:
            from google.colab import output
            output.enable_custom_widget_manager()
        except Exception:  # an older Colab: its own manager may still draw the core widgets
            pass
    return ipywidgets, ""


def show(items: Sequence[Any], out: Any | None = None) -> None:
    """Print the strings and display everything else (tables): as the cell's output, or into the
    Output widget ``out``, replacing what it showed. The widget is filled directly rather than by
    capturing with ``with out:``: the same in JupyterLab, Colab and a headless run, and in
    ipywidgets 7 and 8."""
    from IPython.display import display

    if out is not None:
        out.outputs = ()
    for item in items:
        if out is None:
            print(item) if isinstance(item, str) else display(item)
        elif isinstance(item, str):
            out.append_stdout(item + "\n")
        else:
            out.append_display_data(item)


def show_rendered(rendered: Rendered, out: Any | None = None) -> None:
    """Show a ``(header, table)`` pair (what an explorer's ``render`` returns), like :func:`show`."""
    header, table = rendered
    show([str(header), table], out)


def explorer(render: Callable[..., Rendered], query: str, *,
             choices: Sequence[Any] | None = None, choice: Any | None = None,
             choice_label: str = "size:", placeholder: str = "", width: str = "70%") -> Any | None:
    """A query box, and a slider over ``choices`` when given, over ``render``.

    ``render(query)`` (or ``render(query, choice)`` with ``choices``) returns a header line and a
    table; the box shows it for ``query`` at once and again for every new query (on Enter) or
    slider position. Returns the widget, already displayed, or None when widgets cannot be shown
    here: then one line says why and the result for ``query`` is shown as plain output.
    """
    if not str(query).strip():
        raise ValueError("explorer needs a starting query (some words, or a test qid).")
    choices = list(choices) if choices is not None else None
    if choices is not None and choice is None:
        choice = choices[0]
    if choices is not None and choice not in choices:
        raise ValueError(f"choice {choice!r} is not one of {choices}.")

    def result(text, picked):
        return render(text) if choices is None else render(text, picked)

    from IPython.display import display
    widgets, why = widget_library()
    if widgets is None:
        print(f"No interactive box here ({why}): the results for {query!r}. Call the function "
              "behind it with other words to try more.")
        show_rendered(result(query, choice))
        return None

    box = widgets.Text(value=str(query), placeholder=placeholder, description="Query:",
                       continuous_update=False, layout=widgets.Layout(width=width))
    shown = widgets.Output()
    controls: list[Any] = [box]
    slider = None
    if choices is not None:
        slider = widgets.SelectionSlider(options=choices, value=choice, description=choice_label,
                                         continuous_update=False)
        controls.insert(0, slider)

    def redraw(_=None):
        text = box.value.strip()
        if not text:
            show([], shown)
            return
        try:
            show_rendered(result(text, slider.value if slider is not None else None), shown)
        except Exception as error:  # a bad query shows its message in the box's output
            show([f"{type(error).__name__}: {error}"], shown)

    box.observe(redraw, names="value")
    if slider is not None:
        slider.observe(redraw, names="value")
    panel = widgets.VBox([widgets.HBox(controls) if len(controls) > 1 else box, shown])
    display(panel)
    redraw()
    return panel


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``[(file name, bytes)]`` from a ``FileUpload.value`` of ipywidgets 8 (a tuple of dicts with
    ``name`` and ``content``) or 7 (a dict ``{name: {"metadata": ..., "content": ...}}``)."""
    if not value:
        return []
    files = []
    if isinstance(value, dict):  # ipywidgets 7
        for name, item in value.items():
            meta = item.get("metadata") or {}
            files.append((str(meta.get("name") or name), bytes(item["content"])))
    else:  # ipywidgets 8
        for item in value:
            files.append((str(item["name"]), bytes(item["content"])))
    return files


class Uploader:
    """Bring a pairs file by upload, in JupyterLab, classic Jupyter or Colab (introduced in
    06_try_it_yourself).

    ``uploader.show()`` offers the upload: in JupyterLab an **Upload pairs** button (ipywidgets 7.7
    or 8); on Colab, Colab's own upload dialog (``google.colab.files.upload``), which waits until a
    file is chosen or *Cancel upload* is pressed; where neither works, one line says to set
    ``PAIRS_FILE`` instead. Every upload is saved as a new file under ``data/cache/uploads/``
    (:func:`save_upload`, never over anything), previewed and validated. :meth:`choose` returns that
    copy, or the ``PAIRS_FILE`` parameter when nothing was uploaded (always the case in a headless
    run such as papermill).
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = folder
        self.path: Path | None = None
        self.button = self.output = self.widget = None

    def show(self) -> None:
        """Display the upload (see the class docstring for what each place gets)."""
        from IPython.display import display

        if is_colab():
            self.colab_upload()
            return
        widgets, why = widget_library()
        if widgets is None:
            print(f"No upload button here ({why}): set PAIRS_FILE in the parameters cell to your "
                  "file's path.")
            return
        self.button = widgets.FileUpload(accept=",".join(SUFFIXES), multiple=False,
                                         description="Upload pairs")
        self.output = widgets.Output()
        self.widget = widgets.VBox([self.button, self.output])
        self.button.observe(self._on_upload, names="value")
        display(self.widget)

    def colab_upload(self) -> Path | None:
        """Colab's upload dialog; the chosen file is kept as a new file under the uploads folder.

        Colab writes uploads into the current folder too, so the dialog runs in an empty temporary
        folder that is removed afterwards: nothing of the workbook can be overwritten.
        """
        import tempfile

        from google.colab import files as colab_files

        print("Choose your pairs file in the dialog below, or press 'Cancel upload' to keep "
              "PAIRS_FILE.")
        here = os.getcwd()
        with tempfile.TemporaryDirectory(prefix="workbook-upload-") as scratch:
            os.chdir(scratch)
            try:
                chosen = colab_files.upload() or {}
            except Exception as error:  # cancelled, or the dialog could not be shown
                print(f"No file uploaded ({type(error).__name__}): PAIRS_FILE is used.")
                chosen = {}
            finally:
                os.chdir(here)
        if not chosen:
            print("No file uploaded: PAIRS_FILE is used.")
            return None
        name, content = next(iter(chosen.items()))
        show(self._accept(name, content))
        return self.path

    def _on_upload(self, change):
        files = uploaded_files(change["new"])
        if files:
            show(self._accept(*files[0]), self.output)

    def _accept(self, name: str, content: bytes) -> list:
        """Save, preview and validate one uploaded file; returns what to show (lines and a table)."""
        try:
            self.path = save_upload(name, content, self.folder)
            report = data.validate(self.path)
            return [f"Saved a copy as {paths.show(self.path)} (your original is untouched).",
                    preview(self.path),
                    f"{report.attrs['n_pairs']} pairs · {report.attrs['errors']} error(s) · "
                    f"{report.attrs['warnings']} warning(s). Now run the cells below "
                    "(Run > Run Selected Cell and All Below)."]
        except data.DataError as exc:
            return [f"Cannot use this file: {exc}"]

    def choose(self, pairs_file: str | os.PathLike) -> str | os.PathLike:
        """The uploaded copy when there is one, else ``pairs_file``."""
        return self.path if self.path is not None else pairs_file

"""Interactive pieces that work in JupyterLab, classic Jupyter and Colab (04, 05, 06).

One place decides whether widgets can be shown (:func:`widget_library`), so that every notebook
behaves the same way: ipywidgets 7.7 (Colab's) and 8.x both work; without a usable ipywidgets the
notebook says so in one line and shows the same results as plain output. :func:`explorer` is the
query box (and, in 04, the size slider) over a function that returns a header line and a table;
:func:`uploaded_files` reads a ``FileUpload`` value in either ipywidgets format.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .device import is_colab

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


def show_rendered(rendered: Rendered, out: Any | None = None) -> None:
    """Show a ``(header, table)`` pair: into the Output widget ``out``, or as plain output."""
    header, table = rendered
    if out is None:
        from IPython.display import display
        print(header)
        display(table)
        return
    # Fill the Output widget directly rather than capturing with `with out:`: the same in
    # JupyterLab, Colab and a headless run, and in ipywidgets 7 and 8.
    out.outputs = ()
    out.append_stdout(str(header) + "\n")
    out.append_display_data(table)


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
            shown.outputs = ()
            return
        try:
            show_rendered(result(text, slider.value if slider is not None else None), shown)
        except Exception as error:  # a bad query shows its message in the box's output
            shown.outputs = ()
            shown.append_stdout(f"{type(error).__name__}: {error}\n")

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

"""Writing a figure: a 256-colour PNG of bounded size, and on request a vector copy beside it.

``VECTOR`` (set by ``generic.build`` from ``--format`` / ``report.format`` for the time of one
report) names the vector format, ``svg`` or ``pdf``; report.md always shows the PNGs, which a code
host renders. A context variable rather than an argument: every figure function and study section
saves through ``save``, and none of them needs to know.
"""
from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

MAX_SIDE_PX = 3000  # the backstop: a longer figure is written at a lower DPI (save)
VECTOR: ContextVar[str | None] = ContextVar("rnnexp_report_vector", default=None)  # "svg" / "pdf": also written
VECTOR_FORMATS = ("svg", "pdf")


def save(fig: Figure, path: Path) -> Path:
    """Render with Agg and write a 256-colour PNG: a third of the size, no visible difference; and,
    when ``VECTOR`` is set (``--format svg``), the same figure as ``path.svg`` / ``.pdf`` beside it.

    A figure larger than ``MAX_SIDE_PX`` on a side is written at a lower DPI: the layout bounds every
    figure (``roles``), this is the backstop that keeps any figure from growing without bound.
    """
    w, h = fig.get_size_inches() * fig.dpi
    if max(w, h) > MAX_SIDE_PX:
        fig.set_dpi(fig.dpi * (MAX_SIDE_PX - 1) / max(w, h))
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    img = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    img.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path)
    vector = VECTOR.get()
    if vector:  # no creation date: the same figure gives the same bytes
        meta = {"Date": None} if vector == "svg" else {"CreationDate": None}
        fig.savefig(Path(path).with_suffix(f".{vector}"), format=vector, metadata=meta)
    return path

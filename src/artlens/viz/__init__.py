"""Figure writers (matplotlib, Agg backend): confusion matrices, curves, image galleries."""

from .figures import plot_confusion_matrix, plot_curves, plot_gallery

__all__ = ["plot_confusion_matrix", "plot_curves", "plot_gallery"]

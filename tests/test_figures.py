"""Figures a reader can read: box plots' long tick labels wrapped so that they do not overlap, plain tick labels (no
offset, no power of ten beside the axis), and files that a rerun writes byte for byte the same."""
import textwrap

import matplotlib
import numpy as np
import pytest

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from snn_robust.outputs import PANEL, STYLE, save_figure, seed_boxes  # noqa: E402

# the quick profile's stand-in labels of Figure 4, whose tick labels overlapped ("(WRN-10-1esNet dropout 0.6")
LONG = ['ResNet dropout 0.3 (WRN-10-1 on FashionMNIST, CIFAR-10 absent)',
        'ResNet dropout 0.6 (WRN-10-1 on FashionMNIST, CIFAR-10 absent)']


def overlaps(boxes) -> list:
    return [(a, b) for a, b in zip(boxes, boxes[1:]) if a.x1 > b.x0]


@pytest.mark.parametrize('labels, columns', [(LONG, 2), (LONG, 1), ([*LONG, 'Bayesian neural network (BNN) on FashionMNIST'], 1),
                                             ([textwrap.fill(t, 30) for t in LONG], 2)])
def test_long_box_plot_tick_labels_do_not_overlap(labels, columns):
    rng = np.random.default_rng(0)
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(2, columns, figsize=(PANEL[0] * columns, 2 * PANEL[1]), squeeze=False)
        for ax in axes[0]: seed_boxes(ax, [[rng.random(50) for _ in labels]], labels)  # as Figure 4 draws them
        fig.tight_layout()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in axes[0]:
            texts = ax.get_xticklabels()
            boxes = sorted((t.get_window_extent(renderer) for t in texts), key=lambda b: b.x0)
            assert overlaps(boxes) == [] and len(boxes) == len(labels)
            assert [' '.join(t.get_text().split()) for t in texts] == [' '.join(t.split()) for t in labels]  # all words
            assert all(b.x0 >= 0 and b.x1 <= fig.bbox.width for b in boxes)  # inside the figure
    plt.close(fig)


@pytest.mark.parametrize('low, high', [(3.48595e-6, 3.48596e-6), (1.00001, 1.00002), (0.25, 0.2500004), (2e6, 2.00001e6)])
def test_small_ranges_have_plain_tick_labels(low, high):
    with plt.style.context(STYLE):
        fig, ax = plt.subplots()
        ax.plot([low, high], [low, high])
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        assert ax.yaxis.get_offset_text().get_text() == '' and ax.xaxis.get_offset_text().get_text() == ''
        assert labels and not [t for t in labels if any(s in t for s in ('e', '×', '10^', '\\times'))]
    plt.close(fig)


def test_a_figure_saved_twice_is_the_same_bytes(tmp_path, monkeypatch):
    with plt.style.context(STYLE):
        fig, ax = plt.subplots()
        seed_boxes(ax, [[np.arange(5.0), np.arange(3.0)]], LONG)
        first = save_figure(fig, tmp_path / 'a')
        monkeypatch.setattr('time.time', lambda: 2_000_000_000.0)  # another day: no date goes into the files
        second = save_figure(fig, tmp_path / 'b')
    plt.close(fig)
    assert [p.suffix for p in first] == ['.png', '.pdf']
    for a, b in zip(first, second): assert a.read_bytes() == b.read_bytes(), a.name
    assert b'CreationDate' not in first[1].read_bytes() and b'Matplotlib' not in first[0].read_bytes()

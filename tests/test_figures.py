"""Figures: panels with titles drawn by the built-in font, written atomically."""

import os

import numpy as np
import SimpleITK as sitk

from monai_chpnet.figures import render_text, save_png_row


def test_titles_are_drawn_above_their_panels(tmp_path):
    panels = [np.full((256, 256), 128, np.uint8), np.full((256, 256), 64, np.uint8)]
    path = save_png_row(panels, tmp_path / "f.png", titles=["zero-filled", "reconstruction"])
    canvas = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    band = canvas.shape[0] - 256
    assert band > 0 and canvas.shape[1] == 2 * 256 + 4
    title_left, title_right = canvas[:band, :256], canvas[:band, 260:]
    assert (title_left == 0).any() and (title_right == 0).any()  # black glyphs on the white band
    assert (canvas[band:, :256] == 128).all() and (canvas[band:, 260:] == 64).all()  # panels untouched
    assert os.listdir(tmp_path) == ["f.png"]


def test_text_rendering_scales_and_clips():
    one = render_text("AB", scale=1)
    assert one.shape == (7, 11) and (one == 0).any()
    assert render_text("AB", scale=2).shape == (14, 22)
    assert render_text("ABCDEF", scale=1, max_width=13).shape[1] <= 13
    assert (render_text("~") == render_text("?")).all()  # a character the font lacks
    assert (render_text("x5") == render_text("X5")).all()

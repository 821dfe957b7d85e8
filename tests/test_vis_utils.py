"""Grids of images and first-layer weights."""
import numpy as np
import pytest

from cs231n.vis_utils import first_layer_images, vis_grid, vis_nn, visualize_grid


def test_visualize_grid_layout_and_scaling():
    Xs = np.arange(5 * 2 * 3 * 3, dtype=float).reshape(5, 2, 3, 3)
    grid = visualize_grid(Xs, ubound=255.0, padding=1)
    assert grid.shape == (3 * 2 + 2, 3 * 3 + 2, 3)
    tile = grid[0:2, 0:3]
    assert tile.min() == 0.0 and tile.max() == 255.0
    assert not grid[2].any()  # padding row
    # the fifth image sits in row 1, column 1
    np.testing.assert_allclose(grid[3:5, 4:7], 255.0 * (Xs[4] - Xs[4].min()) / np.ptp(Xs[4]))


def test_visualize_grid_constant_image_gives_zeros_not_nan():
    grid = visualize_grid(np.ones((1, 2, 2, 3)))
    assert np.isfinite(grid).all() and not grid.any()


def test_vis_grid_and_vis_nn_scale_to_unit_range():
    Xs = np.random.default_rng(0).standard_normal((4, 2, 2, 3))
    G = vis_grid(Xs)
    assert G.shape == (2 * 2 + 2, 2 * 2 + 2, 3) and G.min() == 0.0 and G.max() == 1.0
    N = vis_nn([[Xs[0], Xs[1]], [Xs[2], Xs[3]]])
    assert N.shape == (2 * 2 + 2, 2 * 2 + 2, 3) and N.min() == 0.0 and N.max() == 1.0


@pytest.mark.parametrize("layout,flatten", [
    ("channels_first", lambda img: img.transpose(2, 0, 1).reshape(-1)),
    ("channels_last", lambda img: img.reshape(-1)),
])
def test_first_layer_images_undo_the_flattening(layout, flatten):
    imgs = np.random.default_rng(1).standard_normal((4, 32, 32, 3))
    W1 = np.stack([flatten(img) for img in imgs], axis=1)  # (3072, 4)
    np.testing.assert_array_equal(first_layer_images(W1, layout), imgs)


def test_first_layer_images_rejects_non_image_layer():
    with pytest.raises(ValueError, match=r"shape \(3072, H\)"):
        first_layer_images(np.zeros((2, 100)))


def test_vis_utils_is_the_course_module_only():
    """The course's names; the explorers live in their own modules (no re-export, no cycle)."""
    import inspect

    import cs231n.vis_utils as vis_utils

    for name, signature in (("visualize_grid", "(Xs, ubound=255.0, padding=1)"),
                            ("vis_grid", "(Xs)"), ("vis_nn", "(rows)")):
        assert str(inspect.signature(getattr(vis_utils, name))) == signature
    for moved in ("weight_explorer", "boundary_explorer", "top_classes", "CIFAR10_CLASSES"):
        assert not hasattr(vis_utils, moved)


def test_show_net_weights_draws_the_templates():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from types import SimpleNamespace

    from cs231n.vis_utils import show_net_weights

    net = SimpleNamespace(params={"W1": np.random.default_rng(2).standard_normal((3072, 5))})
    fig, ax = plt.subplots()
    image = show_net_weights(net, ax=ax)
    assert image.get_array().shape == (3 * 32 + 2 * 3, 3 * 32 + 2 * 3, 3)
    plt.close(fig)

"""
Pictures of images and of first-layer weights.

The interactive views of training live in their own modules, which build on
this one: cs231n.weight_viewer.weight_explorer (the first-layer templates over
the snapshots of one or more runs) and cs231n.boundary_viewer.boundary_explorer
(the decision boundary of a net on 2-D inputs).
"""
from math import ceil, sqrt

import numpy as np


def _normalize(img, ubound):
    """Scale img linearly to [0, ubound]; a constant image becomes all zeros."""
    low, high = np.min(img), np.max(img)
    if high == low:
        return np.zeros_like(img, dtype=np.float64)
    return ubound * (img - low) / (high - low)


def visualize_grid(Xs, ubound=255.0, padding=1):
    """
    Reshape a 4D tensor of image data to a grid for easy visualization.
    Each image is scaled on its own to [0, ubound].

    Inputs:
    - Xs: Data of shape (N, H, W, C)
    - ubound: Output grid will have values scaled to the range [0, ubound]
    - padding: The number of blank pixels between elements of the grid

    Returns:
    - grid: Array of shape (G*H + (G-1)*padding, G*W + (G-1)*padding, C),
      where G = ceil(sqrt(N)).
    """
    if Xs.ndim != 4:
        raise ValueError(f"visualize_grid: Xs must have shape (N, H, W, C), got shape {Xs.shape}")
    (N, H, W, C) = Xs.shape
    grid_size = int(ceil(sqrt(N)))
    grid_height = H * grid_size + padding * (grid_size - 1)
    grid_width = W * grid_size + padding * (grid_size - 1)
    grid = np.zeros((grid_height, grid_width, C))
    for n in range(N):
        y0 = (n // grid_size) * (H + padding)
        x0 = (n % grid_size) * (W + padding)
        grid[y0:y0 + H, x0:x0 + W] = _normalize(Xs[n], ubound)
    return grid


def vis_grid(Xs):
    """
    Visualize a grid of images, all scaled together to [0, 1].

    Inputs:
    - Xs: Data of shape (N, H, W, C)

    Returns:
    - G: Array of shape (A*H + A, A*W + A, C) with A = ceil(sqrt(N)).
    """
    if Xs.ndim != 4:
        raise ValueError(f"vis_grid: Xs must have shape (N, H, W, C), got shape {Xs.shape}")
    (N, H, W, C) = Xs.shape
    A = int(ceil(sqrt(N)))
    G = np.full((A * H + A, A * W + A, C), np.min(Xs), dtype=np.float64)
    for n in range(N):
        y, x = divmod(n, A)
        G[y * H + y:(y + 1) * H + y, x * W + x:(x + 1) * W + x, :] = Xs[n]
    return _normalize(G, 1.0)


def vis_nn(rows):
    """
    Visualize an array of arrays of images, all scaled together to [0, 1].

    Inputs:
    - rows: A list of N lists of D images, each of shape (H, W, C)

    Returns:
    - G: Array of shape (N*H + N, D*W + D, C).
    """
    N = len(rows)
    D = len(rows[0])
    H, W, C = rows[0][0].shape
    G = np.ones((N * H + N, D * W + D, C), dtype=np.float64)
    for y in range(N):
        if len(rows[y]) != D:
            raise ValueError(f"vis_nn: every row must hold {D} images, row {y} holds {len(rows[y])}")
        for x in range(D):
            G[y * H + y:(y + 1) * H + y, x * W + x:(x + 1) * W + x, :] = rows[y][x]
    return _normalize(G, 1.0)


def first_layer_images(W1, layout="channels_first"):
    """
    Turn first-layer weights into one 32x32x3 image per hidden unit.

    Inputs:
    - W1: Weights of shape (3072, H).
    - layout: How the input rows were flattened: "channels_first" for images
      of shape (3, 32, 32) (what get_CIFAR10_data returns), "channels_last"
      for images of shape (32, 32, 3) (what load_CIFAR10 returns).

    Returns:
    - Images of shape (H, 32, 32, 3).
    """
    if W1.ndim != 2 or W1.shape[0] != 3 * 32 * 32:
        raise ValueError(f"first_layer_images: W1 must have shape (3072, H) to be shown as "
                         f"32x32x3 images, got shape {W1.shape}")
    if layout == "channels_first":
        return W1.reshape(3, 32, 32, -1).transpose(3, 1, 2, 0)
    if layout == "channels_last":
        return W1.reshape(32, 32, 3, -1).transpose(3, 0, 1, 2)
    raise ValueError(f"first_layer_images: layout must be 'channels_first' or 'channels_last', "
                     f"got {layout!r}")


def show_net_weights(net, layout="channels_first", ax=None):
    """
    Show the first-layer weights of a network as a grid of 32x32x3 images.

    Inputs:
    - net: A model with net.params["W1"] of shape (3072, H).
    - layout: See first_layer_images.
    - ax: A matplotlib Axes to draw into (default: the current one).

    Returns:
    - The matplotlib AxesImage.
    """
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    grid = visualize_grid(first_layer_images(net.params["W1"], layout), padding=3)
    image = ax.imshow(grid.astype("uint8"))
    ax.axis("off")
    return image


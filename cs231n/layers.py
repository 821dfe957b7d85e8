"""Layers of a fully-connected network: forward and backward passes, and losses.

Every forward function returns ``(out, cache)``; the matching backward function
takes the upstream gradient ``dout`` and that ``cache`` and returns the
gradients of its inputs. Every loss returns ``(loss, dx)``.

These functions are the one implementation of each formula in the kit: the
classifiers in ``cs231n.classifiers`` are built from them.
"""
import math

import numpy as np


def _check_scores_and_labels(x, y, name):
    """Validate the (scores, labels) pair given to a loss function."""
    if x.ndim != 2:
        raise ValueError(f"{name}: x must have shape (N, C), got shape {x.shape}")
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ValueError(
            f"{name}: y must have shape (N,) = ({x.shape[0]},) to match x, got shape {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name}: y must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError(
            f"{name}: labels in y must lie in [0, {x.shape[1]}) for C = {x.shape[1]} classes, "
            f"got values from {y.min()} to {y.max()}"
        )
    return y


def affine_forward(x, w, b):
    """
    Computes the forward pass for an affine (fully-connected) layer.

    The input x has shape (N, d_1, ..., d_k) and contains a minibatch of N
    examples, where each example x[i] has shape (d_1, ..., d_k). We will
    reshape each input into a vector of dimension D = d_1 * ... * d_k, and
    then transform it to an output vector of dimension M.

    Inputs:
    - x: A numpy array containing input data, of shape (N, d_1, ..., d_k)
    - w: A numpy array of weights, of shape (D, M)
    - b: A numpy array of biases, of shape (M,)

    Returns a tuple of:
    - out: output, of shape (N, M)
    - cache: (x, w, b)
    """
    D = math.prod(x.shape[1:])
    if w.ndim != 2 or w.shape[0] != D:
        raise ValueError(
            f"affine_forward: w must have shape (D, M) with D = {D} (x has shape {x.shape}), "
            f"got shape {w.shape}"
        )
    if b.shape != (w.shape[1],):
        raise ValueError(f"affine_forward: b must have shape ({w.shape[1]},), got shape {b.shape}")
    out = None
    ###########################################################################
    # TODO: Implement the affine forward pass. Store the result in out. You   #
    # will need to reshape the input x into rows, of shape (N, D), first.     #
    ###########################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    out = x.reshape(x.shape[0], D) @ w
    out += b
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """
    Computes the backward pass for an affine layer.

    Inputs:
    - dout: Upstream derivative, of shape (N, M)
    - cache: Tuple of:
      - x: Input data, of shape (N, d_1, ... d_k)
      - w: Weights, of shape (D, M)
      - b: Biases, of shape (M,)

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    x, w, b = cache
    dx, dw, db = None, None, None
    ###########################################################################
    # TODO: Implement the affine backward pass. dx has the shape of x         #
    # (reshape dout @ w.T back), dw = (x as rows).T @ dout, and db sums dout  #
    # over the N examples.                                                    #
    ###########################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    x_rows = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x_rows.T @ dout
    db = dout.sum(axis=0)
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return dx, dw, db


def relu_forward(x):
    """
    Computes the forward pass for a layer of rectified linear units (ReLUs).

    Input:
    - x: Inputs, of any shape

    Returns a tuple of:
    - out: Output, of the same shape as x
    - cache: x
    """
    out = None
    ###########################################################################
    # TODO: Implement the ReLU forward pass: max(x, 0), elementwise.          #
    ###########################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    out = np.maximum(x, 0)
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """
    Computes the backward pass for a layer of rectified linear units (ReLUs).

    Input:
    - dout: Upstream derivatives, of any shape
    - cache: Input x, of same shape as dout

    Returns:
    - dx: Gradient with respect to x
    """
    dx, x = None, cache
    ###########################################################################
    # TODO: Implement the ReLU backward pass. The gradient passes where the   #
    # input was positive (x > 0) and is 0 where it was negative. At exactly   #
    # x == 0 either one-sided derivative is right (the course uses 0).        #
    ###########################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    dx = dout * (x > 0)
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return dx


def svm_loss(x, y):
    """
    Computes the loss and gradient using for multiclass SVM classification.

    Inputs:
    - x: Input data, of shape (N, C) where x[i, j] is the score for the jth
      class for the ith input.
    - y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and
      0 <= y[i] < C

    Returns a tuple of:
    - loss: Scalar giving the loss
    - dx: Gradient of the loss with respect to x
    """
    y = _check_scores_and_labels(x, y, "svm_loss")
    loss, dx = None, None
    ###########################################################################
    # TODO: Implement the multiclass SVM loss (margin 1) and its gradient,    #
    # both averaged over the N examples. Vectorize: pick the correct-class    #
    # scores with x[np.arange(N), y] rather than looping over examples.       #
    ###########################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    N = x.shape[0]
    rows = np.arange(N)
    margins = x - x[rows, y][:, None] + 1.0
    np.maximum(margins, 0, out=margins)
    margins[rows, y] = 0
    loss = margins.sum() / N
    dx = (margins > 0).astype(x.dtype)
    dx[rows, y] = -dx.sum(axis=1)
    dx /= N
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return loss, dx


def softmax_loss(x, y):
    """
    Computes the loss and gradient for softmax classification.

    The scores are shifted by their row maximum before exponentiating, so that
    large scores (1e3 and more) give a finite loss.

    Inputs:
    - x: Input data, of shape (N, C) where x[i, j] is the score for the jth
      class for the ith input.
    - y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and
      0 <= y[i] < C

    Returns a tuple of:
    - loss: Scalar giving the loss
    - dx: Gradient of the loss with respect to x
    """
    y = _check_scores_and_labels(x, y, "softmax_loss")
    loss, dx = None, None
    ###########################################################################
    # TODO: Implement the softmax loss and its gradient, averaged over the N  #
    # examples. Shift each row of scores by its maximum first, and compute    #
    # log-probabilities as shifted - log(sum(exp(shifted))) (log-sum-exp):    #
    # log(probs) can be log(0) = -inf even when the shift keeps exp finite.   #
    ###########################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    N = x.shape[0]
    rows = np.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)
    exp_scores = np.exp(shifted)
    sum_exp = exp_scores.sum(axis=1, keepdims=True)
    log_probs = shifted[rows, y] - np.log(sum_exp[:, 0])
    loss = -log_probs.sum() / N
    dx = exp_scores
    dx /= sum_exp
    dx[rows, y] -= 1
    dx /= N
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    return loss, dx

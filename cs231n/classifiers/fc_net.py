"""The two-layer network of the modular notebook, built from cs231n.layers.

As in the course, where this module starts with ``from ..layers import *`` and
``from ..layer_utils import *``, ``from cs231n.classifiers.fc_net import *``
brings in every layer function (``affine_forward``, ``relu_backward``,
``softmax_loss``, ...) and every sandwich layer (``affine_relu_forward``, ...)
along with ``TwoLayerNet``: the course's notebooks rely on it.
"""
import inspect

import numpy as np

from cs231n import _param_file, layer_utils, layers
from cs231n._validation import positive_int
from cs231n.layer_utils import affine_relu_backward, affine_relu_forward
from cs231n.layer_utils import *  # noqa: F401,F403 (re-exported, as the course's fc_net does)
from cs231n.layers import affine_backward, affine_forward, softmax_loss
from cs231n.layers import *  # noqa: F401,F403 (re-exported, as the course's fc_net does)


def _functions_of(module):
    """The public functions defined in `module` (not those it imports)."""
    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and inspect.isfunction(obj)
            and obj.__module__ == module.__name__]


__all__ = ["TwoLayerNet"] + _functions_of(layers) + _functions_of(layer_utils)

# What TwoLayerNet.save writes (cs231n._param_file): W1, b1, W2, b2 and reg.
_PARAM_NAMES = _param_file.PARAM_NAMES
_FORMAT = "cs231n.classifiers.fc_net.TwoLayerNet/1"


class TwoLayerNet(object):
    """
    A two-layer fully-connected neural network with ReLU nonlinearity and
    softmax loss that uses a modular layer design. We assume an input dimension
    of D, a hidden dimension of H, and perform classification over C classes.

    The architecure should be affine - relu - affine - softmax.

    Note that this class does not implement gradient descent; instead, it
    will interact with a separate Solver object that is responsible for running
    optimization.

    The learnable parameters of the model are stored in the dictionary
    self.params that maps parameter names to numpy arrays.

    L2 convention: the regularization term is
    ``0.5 * self.reg * (sum(W1**2) + sum(W2**2))``, so its gradient is
    ``self.reg * W``; the biases are not regularized. The course's checks
    3.4702243556 (reg = 0) and 26.5948426952 (reg = 1.0) hold only with this
    factor one-half. The classic ``cs231n.classifiers.neural_net.TwoLayerNet``
    uses ``reg * sum(W**2)`` instead (no one-half, gradient ``2 * reg * W``):
    the same ``reg`` value means twice as strong a penalty there.
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0):
        """
        Initialize a new network. Weights are drawn from a Gaussian centered at
        0.0 with standard deviation weight_scale (from NumPy's global random
        state, so that ``np.random.seed`` makes them reproducible); biases are
        initialized to zero.

        Inputs:
        - input_dim: An integer giving the size of the input
        - hidden_dim: An integer giving the size of the hidden layer
        - num_classes: An integer giving the number of classes to classify
        - weight_scale: Scalar giving the standard deviation for random
          initialization of the weights.
        - reg: Scalar giving L2 regularization strength (see the class docstring
          for the convention).
        """
        input_dim = positive_int(input_dim, "input_dim", "TwoLayerNet")
        hidden_dim = positive_int(hidden_dim, "hidden_dim", "TwoLayerNet")
        num_classes = positive_int(num_classes, "num_classes", "TwoLayerNet")
        if weight_scale < 0:
            raise ValueError(f"TwoLayerNet: weight_scale must be >= 0, got {weight_scale!r}")
        if reg < 0:
            raise ValueError(f"TwoLayerNet: reg must be >= 0, got {reg!r}")
        self.params = {}
        self.reg = reg

        ############################################################################
        # TODO: Initialize the weights and biases of the two-layer net. Weights    #
        # should be initialized from a Gaussian centered at 0.0 with               #
        # standard deviation equal to weight_scale, and biases should be           #
        # initialized to zero. All weights and biases should be stored in the      #
        # dictionary self.params, with first layer weights                         #
        # and biases using the keys 'W1' and 'b1' and second layer                 #
        # weights and biases using the keys 'W2' and 'b2'.                         #
        ############################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        self.params["W1"] = weight_scale * np.random.randn(input_dim, hidden_dim)
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b2"] = np.zeros(num_classes)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    def loss(self, X, y=None):
        """
        Compute loss and gradient for a minibatch of data.

        Inputs:
        - X: Array of input data of shape (N, d_1, ..., d_k)
        - y: Array of labels, of shape (N,). y[i] gives the label for X[i].

        Returns:
        If y is None, then run a test-time forward pass of the model and return:
        - scores: Array of shape (N, C) giving classification scores, where
          scores[i, c] is the classification score for X[i] and class c.

        If y is not None, then run a training-time forward and backward pass and
        return a tuple of:
        - loss: Scalar value giving the loss (data loss plus
          0.5 * self.reg * (sum(W1**2) + sum(W2**2)))
        - grads: Dictionary with the same keys as self.params, mapping parameter
          names to gradients of the loss with respect to those parameters.
        """
        missing = [name for name in _PARAM_NAMES if name not in self.params]
        if missing:
            raise NotImplementedError(
                f"write TwoLayerNet.__init__ in cs231n/classifiers/fc_net.py (self.params has no "
                f"{', '.join(repr(name) for name in missing)}): its code region stores the weights and "
                f"biases in self.params['W1'], self.params['b1'], self.params['W2'], self.params['b2']")
        scores = None
        ############################################################################
        # TODO: Implement the forward pass for the two-layer net, computing the    #
        # class scores for X and storing them in the scores variable.              #
        ############################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        h1, h1_cache = affine_relu_forward(X, W1, b1)
        scores, scores_cache = affine_forward(h1, W2, b2)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        if scores is None:
            raise NotImplementedError("TwoLayerNet.loss: scores is None: write the forward pass (the "
                                      "first code region of TwoLayerNet.loss in cs231n/classifiers/fc_net.py)")

        # If y is None then we are in test mode so just return scores
        if y is None:
            return scores

        loss, grads = 0, {}
        ############################################################################
        # TODO: Implement the backward pass for the two-layer net. Store the loss  #
        # in the loss variable and gradients in the grads dictionary. Compute data #
        # loss using softmax, and make sure that grads[k] holds the gradients for  #
        # self.params[k]. Don't forget to add L2 regularization!                   #
        #                                                                          #
        # NOTE: To ensure that your implementation matches ours and you pass the   #
        # automated tests, make sure that your L2 regularization includes a factor #
        # of 0.5 to simplify the expression for the gradient.                      #
        ############################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        data_loss, dscores = softmax_loss(scores, y)
        reg_loss = 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        loss = data_loss + reg_loss
        dh1, dW2, db2 = affine_backward(dscores, scores_cache)
        _, dW1, db1 = affine_relu_backward(dh1, h1_cache)
        grads["W1"] = dW1 + self.reg * W1
        grads["b1"] = db1
        grads["W2"] = dW2 + self.reg * W2
        grads["b2"] = db2
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        return loss, grads

    def save(self, path):
        """
        Save the parameters and the regularization strength in one file.

        The file is a NumPy .npz archive (arrays only, no pickle) written at
        exactly `path`, whatever its extension (the course's notebook saves to
        "best_two_layer_net.npy"); a relative path is relative to the current
        directory. The file is replaced atomically: an interrupted save leaves
        the previous one intact.

        Inputs:
        - path: Where to write, e.g. "best_two_layer_net.npy".

        Returns:
        - The path written.
        """
        path = _param_file.write(path, self.params, {"reg": np.asarray(float(self.reg))}, _FORMAT)
        print(path, "saved.")
        return path

    def load(self, path):
        """
        Load parameters and regularization strength saved by TwoLayerNet.save.

        The saved arrays replace model.params, whatever the sizes this model was
        created with, so that ``TwoLayerNet().load(path)`` gives back the saved
        network.

        Inputs:
        - path: A file written by TwoLayerNet.save.

        Returns:
        - The model itself.

        Raises FileNotFoundError for a missing file, and ValueError naming the
        file for one that TwoLayerNet.save did not write.
        """
        arrays = _param_file.read(path, _FORMAT, required=("reg",), holds="W1, b1, W2, b2 and reg")
        self.params = {name: arrays[name].copy() for name in _PARAM_NAMES}
        self.reg = float(arrays["reg"])
        print(path, "loaded.")
        return self

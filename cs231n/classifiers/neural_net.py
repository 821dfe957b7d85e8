"""The classic two-layer network of the assignment, trained by minibatch SGD."""
import numpy as np

from cs231n import _param_file, training_record
from cs231n._validation import positive_int
from cs231n.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from cs231n.snapshots import SnapshotRecorder

# What TwoLayerNet.save writes (cs231n._param_file): W1, b1, W2, b2 and the training record
# (cs231n.training_record).
_PARAM_NAMES = _param_file.PARAM_NAMES
_FORMAT = "cs231n.classifiers.neural_net.TwoLayerNet/1"


def epoch_length(num_train, batch_size):
    """
    The number of iterations in one epoch of TwoLayerNet.train.

    train() records the accuracies and decays the learning rate after
    iterations 0, epoch_length, 2 * epoch_length, ...; minibatches are sampled
    with replacement, so an epoch is a number of iterations, not a pass over
    every row.

    Inputs:
    - num_train: Number N of training rows.
    - batch_size: Rows per minibatch.

    Returns:
    - max(num_train // batch_size, 1): a whole number, at least 1.
    """
    return max(num_train // batch_size, 1)


def _check_loss_result(result, params):
    """
    Check what loss(X_batch, y_batch, reg) gave train(): when a part of
    TwoLayerNet.loss is still to be written, say which, instead of failing
    later deep inside NumPy.
    """
    where = "TwoLayerNet.loss (cs231n/classifiers/neural_net.py)"
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"train: loss(X_batch, y_batch, reg) must return a tuple (loss, grads), "
                        f"got {type(result).__name__}; see {where}")
    loss, grads = result
    if loss is None:
        raise NotImplementedError(f"train: loss() returned None as the loss: write the forward "
                                  f"pass and the loss in {where}")
    if not isinstance(grads, dict):
        raise TypeError(f"train: loss() must return grads as a dict, got {type(grads).__name__}")
    missing = [name for name in params if grads.get(name) is None]
    if missing:
        raise NotImplementedError(
            f"train: loss() returned no gradient for {', '.join(missing)}: grads has no "
            f"{'such keys' if len(missing) > 1 else 'such key'}; in {where}, store "
            f"{'them' if len(missing) > 1 else 'it'} in "
            f"{', '.join(f'grads[{name!r}]' for name in missing)} (and write the backward pass "
            f"there first if it is not written yet)")
    return loss, grads


def _check_predictions(y_pred, X):
    """
    Check what the code region of TwoLayerNet.predict gave: one label per row of X.

    Inputs:
    - y_pred: The region's result.
    - X: The data passed to predict, of shape (N, D).

    Returns:
    - y_pred, when it has shape (N,).

    Raises NotImplementedError when y_pred is None, and ValueError naming the
    shape when it is not (N,) (scores of shape (N, C): take the argmax).
    """
    where = "TwoLayerNet.predict (cs231n/classifiers/neural_net.py)"
    if y_pred is None:
        raise NotImplementedError(f"predict() returned None: write {where}: its code region sets y_pred")
    N = X.shape[0]
    shape = np.shape(y_pred)
    if len(shape) == 2 and shape[0] == N:
        raise ValueError(f"{where}: predict must return one label per row, shape ({N},): you returned "
                         f"scores of shape {shape}; take the argmax over the classes "
                         f"(np.argmax(scores, axis=1))")
    if shape != (N,):
        raise ValueError(f"{where}: predict must return one label per row of X, shape ({N},), "
                         f"got shape {shape}")
    return y_pred


class TwoLayerNet(object):
    """
    A two-layer fully-connected neural network. The net has an input dimension
    of N, a hidden layer dimension of H, and performs classification over C
    classes. We train the network with a softmax loss function and L2
    regularization on the weight matrices. The network uses a ReLU
    nonlinearity after the first fully connected layer.

    In other words, the network has the following architecture:

    input - fully connected layer - ReLU - fully connected layer - softmax

    The outputs of the second fully-connected layer are the scores for each
    class.

    L2 convention: the regularization term is ``reg * (sum(W1**2) + sum(W2**2))``
    with no factor one-half, so its gradient is ``2 * reg * W``. The course's
    toy loss 1.30378789133 holds only with this convention. (The modular
    ``cs231n.classifiers.fc_net.TwoLayerNet`` uses ``0.5 * reg * sum(W**2)``.)
    """

    def __init__(self, input_size, hidden_size, output_size, std=1e-4, dtype=np.float64):
        """
        Initialize the model. Weights are initialized to small random values
        and biases are initialized to zero. Weights and biases are stored in
        the variable self.params, which is a dictionary with the following keys:

        W1: First layer weights; has shape (D, H)
        b1: First layer biases; has shape (H,)
        W2: Second layer weights; has shape (H, C)
        b2: Second layer biases; has shape (C,)

        The weights are drawn from NumPy's global random state, as in the
        course, so that ``np.random.seed`` makes them reproducible.

        Inputs:
        - input_size: The dimension D of the input data.
        - hidden_size: The number of neurons H in the hidden layer.
        - output_size: The number of classes C.
        - std: Scale of the initial weights.
        - dtype: Floating-point dtype of the parameters, float64 (default, as
          the course) or float32. The weights are drawn in float64 and
          rounded, so both dtypes start from the same random draws.
        """
        input_size = positive_int(input_size, "input_size", "TwoLayerNet")
        hidden_size = positive_int(hidden_size, "hidden_size", "TwoLayerNet")
        output_size = positive_int(output_size, "output_size", "TwoLayerNet")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"TwoLayerNet: dtype must be float32 or float64, got {dtype}")
        self.params = {}
        self.params["W1"] = (std * np.random.randn(input_size, hidden_size)).astype(dtype, copy=False)
        self.params["b1"] = np.zeros(hidden_size, dtype=dtype)
        self.params["W2"] = (std * np.random.randn(hidden_size, output_size)).astype(dtype, copy=False)
        self.params["b2"] = np.zeros(output_size, dtype=dtype)
        # Where the last stretch of training began (cs231n.training_record): set by train().
        self.training_record = None

    def loss(self, X, y=None, reg=0.0):
        """
        Compute the loss and gradients for a two layer fully connected neural
        network.

        Inputs:
        - X: Input data of shape (N, D). Each X[i] is a training sample.
        - y: Vector of training labels. y[i] is the label for X[i], and each y[i] is
          an integer in the range 0 <= y[i] < C. This parameter is optional; if it
          is not passed then we only return scores, and if it is passed then we
          instead return the loss and gradients.
        - reg: Regularization strength.

        Returns:
        If y is None, return a matrix scores of shape (N, C) where scores[i, c] is
        the score for class c on input X[i].

        If y is not None, instead return a tuple of:
        - loss: Loss (data loss and regularization loss) for this batch of training
          samples.
        - grads: Dictionary mapping parameter names to gradients of those parameters
          with respect to the loss function; has the same keys as self.params.
          Each call returns new gradient arrays (the caller may keep them).
        """
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N, D = X.shape

        # Compute the forward pass
        scores = None
        #############################################################################
        # TODO: Perform the forward pass, computing the class scores for the input. #
        # Store the result in the scores variable, which should be an array of      #
        # shape (N, C). Build it from affine_forward and relu_forward               #
        # (cs231n/layers.py) and keep their caches: the backward pass needs them.   #
        #############################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        a1, fc1_cache = affine_forward(X, W1, b1)
        h1, relu_cache = relu_forward(a1)
        scores, fc2_cache = affine_forward(h1, W2, b2)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        # If the targets are not given then jump out, we're done
        if y is None:
            return scores

        # Compute the loss
        loss = None
        #############################################################################
        # TODO: Finish the forward pass, and compute the loss. This should include  #
        # both the data loss and L2 regularization for W1 and W2. Store the result  #
        # in the variable loss, which should be a scalar. Use the Softmax           #
        # classifier loss (softmax_loss). The L2 term of this network is            #
        # reg * (np.sum(W1 * W1) + np.sum(W2 * W2)), with no factor one-half.       #
        #############################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        data_loss, dscores = softmax_loss(scores, y)

        def sum_sq(W):
            # In float32, np.vdot sums the squares in one pass, with no temporary W * W;
            # float64 keeps np.sum(W * W): the course's toy loss, bit for bit.
            return np.sum(W * W) if W.dtype == np.float64 else np.vdot(W, W)

        loss = data_loss + reg * (sum_sq(W1) + sum_sq(W2))
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        # Backward pass: compute gradients
        grads = {}
        #############################################################################
        # TODO: Compute the backward pass, computing the derivatives of the weights #
        # and biases. Store the results in the grads dictionary. For example,       #
        # grads['W1'] should store the gradient on W1, and be a matrix of same size #
        # Go back through the layers (affine_backward, relu_backward) with the      #
        # caches of the forward pass, and add the gradient of the L2 term to        #
        # grads['W1'] and grads['W2']: with no one-half, it is 2 * reg * W.         #
        #############################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        dh1, grads["W2"], grads["b2"] = affine_backward(dscores, fc2_cache)
        da1 = relu_backward(dh1, relu_cache)
        # The first layer: its input X needs no gradient, so dW1 and db1 are computed
        # here, without affine_backward's dX = da1 @ W1.T (a product as large as the
        # forward one). X_rows.T is a transposed view of C-ordered rows, which BLAS
        # reads in place (no transposed copy of X).
        X_rows = X.reshape(X.shape[0], -1)
        # dW1 = 2 * reg * W1 + X_rows.T @ da1. The instructor's source computes it in
        # place (cs231n/_instructor_blas.py, which the student kit does not have): the L2
        # gradient first, then the product added to it (in float32 one BLAS call; in
        # float64 NumPy's product and sum: the same numbers, bit for bit). A new D x H
        # array at every iteration costs page faults that take about as long as the
        # product itself, so dW1 goes into a spare array: one that train() recycled after
        # its SGD step, or a new one; what a caller keeps is never overwritten.
        try:
            from cs231n._instructor_blas import add_matmul, spare
        except ImportError:  # this solution run inside the student kit: plain NumPy
            grads["W1"] = X_rows.T @ da1 + 2 * reg * W1
        else:
            dW1 = spare(W1.shape, da1.dtype)
            np.multiply(W1, 2 * reg, out=dW1)
            grads["W1"] = add_matmul(X_rows.T, da1, dW1)
        grads["b1"] = da1.sum(axis=0)
        grads["W2"] += 2 * reg * W2
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        return loss, grads

    def train(self, X, y, X_val, y_val,
              learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100,
              batch_size=200, verbose=False,
              snapshot_every=None, max_snapshots=64):
        """
        Train this neural network using stochastic gradient descent.

        Minibatches are sampled with replacement from NumPy's global random
        state. An epoch is ``max(num_train // batch_size, 1)`` iterations
        (epoch_length); after each epoch the train and validation accuracies
        are recorded and the learning rate is multiplied by learning_rate_decay.

        When X holds float32 (or float64) data, the parameters are first cast
        to that dtype, so that float32 data trains in float32 (about twice as
        fast as float64).

        Inputs:
        - X: A numpy array of shape (N, D) giving training data.
        - y: A numpy array of shape (N,) giving training labels; y[i] = c means that
          X[i] has label c, where 0 <= c < C.
        - X_val: A numpy array of shape (N_val, D) giving validation data.
        - y_val: A numpy array of shape (N_val,) giving validation labels.
        - learning_rate: Scalar giving learning rate for optimization.
        - learning_rate_decay: Scalar giving factor used to decay the learning rate
          after each epoch.
        - reg: Scalar giving regularization strength.
        - num_iters: Number of steps to take when optimizing.
        - batch_size: Number of training examples to use per step.
        - verbose: boolean; if true print progress during optimization.
        - snapshot_every: If an integer k, record a copy of W1 before iteration 0,
          every k iterations, and after the last one (off by default).
        - max_snapshots: Memory bound for the snapshots; see cs231n.snapshots.

        Returns:
        A dictionary with keys loss_history (one loss per iteration),
        train_acc_history and val_acc_history (one accuracy per epoch), and
        acc_iters (the iteration, 0, iterations_per_epoch, ..., at which each
        of those accuracies was measured), and learning_rate (the learning
        rate after the last decay). With snapshot_every, also snapshot_iters
        (the iteration of each snapshot) and W1_snapshots (the matching copies
        of W1).

        Training goes on exactly where a call stopped when the next call is
        given that learning_rate (and the same data, batch_size and
        learning_rate_decay), provided the first call's num_iters was a whole
        number of epochs: the minibatches come from NumPy's global random
        state, the parameters from self.params. cs231n.tuning trains this way,
        in chunks, to stop diverging runs early.
        """
        num_train = X.shape[0]
        if y.shape != (num_train,):
            raise ValueError(f"train: y must have shape ({num_train},) to match X, got {y.shape}")
        batch_size = positive_int(batch_size, "batch_size", "train")
        iterations_per_epoch = epoch_length(num_train, batch_size)
        if X.dtype in (np.float32, np.float64):
            for name, param in list(self.params.items()):
                if param.dtype != X.dtype:
                    self.params[name] = param.astype(X.dtype)

        loss_history = []
        train_acc_history = []
        val_acc_history = []
        acc_iters = []
        recorder = None
        # The last stretch of this call is recorded, so that it can be re-run to confirm the
        # weights it ends on (cs231n.training_record; TwoLayerNet.save writes it).
        record_from = training_record.replay_start(num_iters, iterations_per_epoch)
        record = None
        # The previous record's arrays are reused for this one: it no longer holds until this call ends.
        previous, self.training_record = getattr(self, "training_record", None), None
        if snapshot_every is not None:
            recorder = SnapshotRecorder(snapshot_every, max_snapshots)
            recorder.record(0, self.params["W1"])

        for it in range(num_iters):
            if it == record_from:
                record = training_record.capture(self.params, learning_rate, {
                    "learning_rate_decay": learning_rate_decay, "reg": reg,
                    "num_iters": num_iters - it, "batch_size": batch_size}, X, y,
                    spare=(previous or {}).get("params"))
            X_batch = None
            y_batch = None
            #########################################################################
            # TODO: Create a random minibatch of training data and labels, storing  #
            # them in X_batch and y_batch respectively. Sample batch_size indices   #
            # from range(num_train) with replacement (np.random.choice), so that    #
            # your minibatches are the reference's for the same random seed.        #
            #########################################################################
            # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
            idx = np.random.choice(num_train, batch_size, replace=True)
            # The rows are gathered into one buffer for all iterations (X[idx] would make
            # a new batch_size x D array each time). np.take with mode="raise" would
            # write them to a temporary first; the indices are valid, so "clip" is safe.
            if it == 0:
                X_batch_buffer = np.empty((batch_size,) + X.shape[1:], dtype=X.dtype)
            X_batch = np.take(X, idx, axis=0, out=X_batch_buffer, mode="clip")
            y_batch = y[idx]
            # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

            if X_batch is None or y_batch is None:
                raise NotImplementedError("train: X_batch or y_batch is None: sample a minibatch in "
                                          "TwoLayerNet.train (cs231n/classifiers/neural_net.py)")
            # Compute loss and gradients using the current minibatch
            loss, grads = _check_loss_result(self.loss(X_batch, y=y_batch, reg=reg), self.params)
            loss_history.append(loss)

            #########################################################################
            # TODO: Use the gradients in the grads dictionary to update the         #
            # parameters of the network (stored in the dictionary self.params)      #
            # using stochastic gradient descent: each parameter takes a step of     #
            # -learning_rate times its gradient. Update the arrays in place.        #
            #########################################################################
            # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
            # In place, with no temporary array as large as W1 (cs231n/_instructor_blas.py,
            # which the student kit does not have; there, the same step in plain NumPy).
            try:
                from cs231n._instructor_blas import recycle, sgd_step
            except ImportError:
                for name, param in self.params.items():
                    param -= learning_rate * grads[name]
            else:
                for name, param in self.params.items():
                    sgd_step(param, grads[name], learning_rate)
                # These gradient arrays are spent: the next loss() call may write its dW1
                # into one of them instead of a new array.
                recycle(grads.values())
            # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

            if verbose and it % 100 == 0:
                print("iteration %d / %d: loss %f" % (it, num_iters, loss))

            # Every epoch, check train and val accuracy and decay learning rate.
            if it % iterations_per_epoch == 0:
                train_pred, val_pred = self.predict(X_batch), self.predict(X_val)
                if train_pred is None or val_pred is None:
                    raise NotImplementedError("train: predict() returned None: write "
                                              "TwoLayerNet.predict (cs231n/classifiers/neural_net.py)")
                train_acc = (train_pred == y_batch).mean()
                val_acc = (val_pred == y_val).mean()
                train_acc_history.append(train_acc)
                val_acc_history.append(val_acc)
                acc_iters.append(it)
                learning_rate *= learning_rate_decay

            if recorder is not None:
                recorder.offer(it + 1, self.params["W1"], last=it + 1 == num_iters)

        # A call of 0 iterations changed nothing: the previous record still holds.
        self.training_record = record if record is not None else previous
        stats = {
            "loss_history": loss_history,
            "train_acc_history": train_acc_history,
            "val_acc_history": val_acc_history,
            "acc_iters": acc_iters,
            "learning_rate": learning_rate,
        }
        if recorder is not None:
            stats["snapshot_iters"] = recorder.iters
            stats["W1_snapshots"] = recorder.snapshots
        return stats

    def predict(self, X):
        """
        Use the trained weights of this two-layer network to predict labels for
        data points. For each data point we predict scores for each of the C
        classes, and assign each data point to the class with the highest score.

        Inputs:
        - X: A numpy array of shape (N, D) giving N D-dimensional data points to
          classify.

        Returns:
        - y_pred: A numpy array of shape (N,) giving predicted labels for each of
          the elements of X. For all i, y_pred[i] = c means that X[i] is predicted
          to have class c, where 0 <= c < C.
        """
        y_pred = None
        ###########################################################################
        # TODO: Implement this function; it should be VERY simple! The scores of  #
        # loss(X) hold one row per data point: take the class of the highest.     #
        ###########################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        y_pred = np.argmax(self.loss(X), axis=1)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        return _check_predictions(y_pred, X)

    def save(self, path):
        """
        Save the parameters, with the record of how train() made them, in one file.

        The file is a NumPy .npz archive (arrays only, no pickle) written at
        exactly `path`; a relative path is relative to the current directory
        (the notebook's folder, in a notebook). It also holds the net's
        training_record (cs231n.training_record), so that the weights can be
        confirmed by re-running the last iterations of their training. The file
        is replaced atomically: an interrupted save leaves the previous one intact.

        Inputs:
        - path: Where to write, e.g. "best_net.npz".

        Returns:
        - The path written.
        """
        return _param_file.write(path, self.params,
                                 training_record.to_arrays(getattr(self, "training_record", None)), _FORMAT,
                                 name="net")

    def load(self, path):
        """
        Load the parameters (and training record) saved by TwoLayerNet.save.

        The saved arrays replace net.params, whatever the sizes this net was
        created with: ``TwoLayerNet(1, 1, 1).load(path)`` gives back the saved net.

        Inputs:
        - path: A file written by TwoLayerNet.save.

        Returns:
        - The net itself.

        Raises FileNotFoundError for a missing file, and ValueError naming the
        file for an empty one or one that TwoLayerNet.save did not write.
        """
        arrays = _param_file.read(path, _FORMAT, name="net")
        self.params = {name: arrays[name].copy() for name in _PARAM_NAMES}
        self.training_record = training_record.from_arrays(arrays)
        return self

"""The Solver: trains a classification model by minibatch gradient descent."""
import pickle

import numpy as np

from cs231n import optim
from cs231n._atomic import atomic_write
from cs231n._validation import positive_int
from cs231n.snapshots import SnapshotRecorder


class Solver(object):
    """
    A Solver encapsulates all the logic necessary for training classification
    models. The Solver performs stochastic gradient descent using different
    update rules defined in optim.py.

    The solver accepts both training and validation data and labels so it can
    periodically check classification accuracy on both training and validation
    data to watch out for overfitting.

    To train a model, you will first construct a Solver instance, passing the
    model, dataset, and various options (learning rate, batch size, etc) to the
    constructor. You will then call the train() method to run the optimization
    procedure and train the model.

    After the train() method returns, model.params will contain (a copy of) the
    parameters that performed best on the validation set over the course of
    training. In addition, the instance variable solver.loss_history will
    contain a list of all losses encountered during training and the instance
    variables solver.train_acc_history and solver.val_acc_history will be lists
    of the accuracies of the model on the training and validation set, checked
    at the first iteration and at the end of each epoch; solver.acc_iters holds
    the number of iterations done at each of those checks (1, then one epoch's
    worth after the other), which the weight explorer uses for its curves.

    Example usage might look something like this:

    data = {
      'X_train': # training data
      'y_train': # training labels
      'X_val': # validation data
      'y_val': # validation labels
    }
    model = MyAwesomeModel(hidden_size=100, reg=10)
    solver = Solver(model, data,
                    update_rule='sgd',
                    optim_config={
                      'learning_rate': 1e-4,
                    },
                    lr_decay=0.95,
                    num_epochs=5, batch_size=200,
                    print_every=100)
    solver.train()


    A Solver works on a model object that must conform to the following API:

    - model.params must be a dictionary mapping string parameter names to numpy
      arrays containing parameter values.

    - model.loss(X, y) must be a function that computes training-time loss and
      gradients, and test-time classification scores, with the following inputs
      and outputs:

      Inputs:
      - X: Array giving a minibatch of input data of shape (N, d_1, ..., d_k)
      - y: Array of labels, of shape (N,) giving labels for X where y[i] is the
        label for X[i].

      Returns:
      If y is None, run a test-time forward pass and return:
      - scores: Array of shape (N, C) giving classification scores for X where
        scores[i, c] gives the score of class c for X[i].

      If y is not None, run a training time forward and backward pass and
      return a tuple of:
      - loss: Scalar giving the loss
      - grads: Dictionary with the same keys as self.params mapping parameter
        names to gradients of the loss with respect to those parameters.

    Minibatches, and the subsets on which accuracies are checked, are drawn
    from NumPy's global random state, so that ``np.random.seed`` makes a run
    reproducible.
    """

    def __init__(self, model, data, **kwargs):
        """
        Construct a new Solver instance.

        Required arguments:
        - model: A model object conforming to the API described above
        - data: A dictionary of training and validation data containing:
          'X_train': Array, shape (N_train, d_1, ..., d_k) of training images
          'X_val': Array, shape (N_val, d_1, ..., d_k) of validation images
          'y_train': Array, shape (N_train,) of labels for training images
          'y_val': Array, shape (N_val,) of labels for validation images

        Optional arguments:
        - update_rule: A string giving the name of an update rule in optim.py
          ('sgd', 'sgd_momentum', 'rmsprop' or 'adam'). Default is 'sgd'.
        - optim_config: A dictionary containing hyperparameters that will be
          passed to the chosen update rule. Each update rule requires different
          hyperparameters (see optim.py) but all update rules require a
          'learning_rate' parameter so that should always be present.
        - lr_decay: A scalar for learning rate decay; after each epoch the
          learning rate is multiplied by this value.
        - batch_size: Size of minibatches used to compute loss and gradient
          during training.
        - num_epochs: The number of epochs to run for during training.
        - print_every: Integer; training losses will be printed every
          print_every iterations.
        - verbose: Boolean; if set to false then no output will be printed
          during training.
        - num_train_samples: Number of training samples used to check training
          accuracy; default is 1000; set to None to use entire training set.
        - num_val_samples: Number of validation samples to use to check val
          accuracy; default is None, which uses the entire validation set.
        - checkpoint_name: If not None, then save model checkpoints here every
          epoch, to the file checkpoint_name + '_epoch_%d.pkl'.
        - snapshot_every: If an integer k, record a copy of model.params['W1']
          before the first iteration, every k iterations and after the last
          one, in solver.snapshot_iters and solver.W1_snapshots (off by
          default; see cs231n.weight_viewer.weight_explorer).
        - max_snapshots: Memory bound for the snapshots; see cs231n.snapshots.
        """
        self.model = model
        for key in ("X_train", "y_train", "X_val", "y_val"):
            if key not in data:
                raise ValueError(f"Solver: data must hold the key {key!r}; "
                                 f"got keys {sorted(data)}")
        self.X_train = data["X_train"]
        self.y_train = data["y_train"]
        self.X_val = data["X_val"]
        self.y_val = data["y_val"]
        for X, y, split in ((self.X_train, self.y_train, "train"), (self.X_val, self.y_val, "val")):
            if np.shape(y) != (X.shape[0],):
                raise ValueError(f"Solver: y_{split} must have shape ({X.shape[0]},) to match "
                                 f"X_{split} of shape {X.shape}, got shape {np.shape(y)}")

        # Unpack keyword arguments
        self.update_rule = kwargs.pop("update_rule", "sgd")
        self.optim_config = kwargs.pop("optim_config", {})
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.batch_size = kwargs.pop("batch_size", 100)
        self.num_epochs = kwargs.pop("num_epochs", 10)
        self.num_train_samples = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples = kwargs.pop("num_val_samples", None)

        self.checkpoint_name = kwargs.pop("checkpoint_name", None)
        self.print_every = kwargs.pop("print_every", 100)
        self.verbose = kwargs.pop("verbose", True)
        self.snapshot_every = kwargs.pop("snapshot_every", None)
        self.max_snapshots = kwargs.pop("max_snapshots", 64)

        # Throw an error if there are extra keyword arguments
        if len(kwargs) > 0:
            extra = ", ".join('"%s"' % k for k in list(kwargs.keys()))
            raise ValueError("Solver: unrecognized arguments %s; expected some of update_rule, "
                             "optim_config, lr_decay, batch_size, num_epochs, num_train_samples, "
                             "num_val_samples, checkpoint_name, print_every, verbose, snapshot_every, "
                             "max_snapshots" % extra)

        # Make sure the update rule exists, then replace the string
        # name with the actual function
        if not isinstance(self.update_rule, str) or self.update_rule not in optim.__all__:
            raise ValueError('Solver: invalid update_rule "%s"; expected one of %s'
                             % (self.update_rule, ", ".join(optim.__all__)))
        self.update_rule = getattr(optim, self.update_rule)

        if not isinstance(self.optim_config, dict):
            raise TypeError(f"Solver: optim_config must be a dict, "
                            f"got {type(self.optim_config).__name__}")
        self.batch_size = positive_int(self.batch_size, "batch_size", "Solver")
        self.print_every = positive_int(self.print_every, "print_every", "Solver")
        if isinstance(self.num_epochs, bool) or self.num_epochs != 0:  # 0 epochs: nothing to do
            self.num_epochs = positive_int(self.num_epochs, "num_epochs", "Solver")
        if self.lr_decay <= 0:
            raise ValueError(f"Solver: lr_decay must be > 0, got {self.lr_decay!r}")

        if not getattr(self.model, "params", None):
            model = type(self.model)
            raise NotImplementedError(f"Solver: model.params is empty: write {model.__name__}.__init__ in "
                                      f"{model.__module__.replace('.', '/')}.py (it stores the weights and "
                                      f"biases in self.params)")
        if self.snapshot_every is not None:
            SnapshotRecorder(self.snapshot_every, self.max_snapshots, "Solver")  # checks them
            if "W1" not in self.model.params:
                raise ValueError(f"Solver: snapshot_every records model.params['W1'], but the "
                                 f"model has only {sorted(self.model.params)}")

        self._reset()

    def _reset(self):
        """
        Set up some book-keeping variables for optimization. Don't call this
        manually.
        """
        # Set up some variables for book-keeping
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.acc_iters = []  # the iteration (1, 2, ...) after which each accuracy was taken
        self.snapshot_iters = []
        self.W1_snapshots = []

        # Make a deep copy of the optim_config for each parameter
        self.optim_configs = {}
        for p in self.model.params:
            d = {k: v for k, v in self.optim_config.items()}
            self.optim_configs[p] = d

    def _step(self):
        """
        Make a single gradient update. This is called by train() and should not
        be called manually.
        """
        # Make a minibatch of training data
        num_train = self.X_train.shape[0]
        batch_mask = np.random.choice(num_train, self.batch_size)
        X_batch = self.X_train[batch_mask]
        y_batch = self.y_train[batch_mask]

        # Compute loss and gradient
        result = self.model.loss(X_batch, y_batch)
        model_loss = f"{type(self.model).__name__}.loss"
        where = f"{model_loss} in {type(self.model).__module__.replace('.', '/')}.py"
        if not isinstance(result, (tuple, list)) or len(result) != 2 or result[0] is None:
            raise NotImplementedError(f"Solver: {model_loss}(X, y) must return (loss, grads), got "
                                      f"{result!r:.60}: write {where}")
        loss, grads = result
        missing = [p for p in self.model.params if p not in grads]
        if missing and not grads and np.isscalar(loss) and loss == 0:
            raise NotImplementedError(f"Solver: {model_loss}(X, y) returned the loss 0 and no gradients: "
                                      f"write the loss and the backward pass of {where}")
        if missing:
            raise NotImplementedError(f"Solver: {model_loss} returned grads without "
                                      f"{', '.join(missing)}: store {'them' if len(missing) > 1 else 'it'} in "
                                      f"{', '.join(f'grads[{p!r}]' for p in missing)} in {where}")
        self.loss_history.append(loss)

        # Perform a parameter update
        for p, w in self.model.params.items():
            dw = grads[p]
            config = self.optim_configs[p]
            next_w, next_config = self.update_rule(w, dw, config)
            if next_w is None:
                rule = getattr(self.update_rule, "__name__", "the update rule")
                raise NotImplementedError(f"Solver: {rule} returned None as next_w: write `{rule}` "
                                          f"in `cs231n/optim.py`")
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config

    def _save_checkpoint(self):
        """Pickle the model and the history so far, atomically (temporary file, then rename)."""
        if self.checkpoint_name is None:
            return
        checkpoint = {
            "model": self.model,
            "update_rule": self.update_rule,
            "lr_decay": self.lr_decay,
            "optim_config": self.optim_config,
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        filename = "%s_epoch_%d.pkl" % (self.checkpoint_name, self.epoch)
        if self.verbose:
            print('Saving checkpoint to "%s"' % filename)
        atomic_write(filename, lambda f: pickle.dump(checkpoint, f))

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """
        Check accuracy of the model on the provided data.

        Inputs:
        - X: Array of data, of shape (N, d_1, ..., d_k)
        - y: Array of labels, of shape (N,)
        - num_samples: If not None, subsample the data (without replacement)
          and only test the model on num_samples datapoints.
        - batch_size: Split X and y into batches of this size to avoid using
          too much memory.

        Returns:
        - acc: Scalar giving the fraction of instances that were correctly
          classified by the model.
        """
        if np.shape(y) != (X.shape[0],):
            raise ValueError(f"check_accuracy: y must have shape ({X.shape[0]},) to match X, "
                             f"got shape {np.shape(y)}")
        batch_size = positive_int(batch_size, "batch_size", "check_accuracy")
        if num_samples is not None:
            num_samples = positive_int(num_samples, "num_samples", "check_accuracy")

        # Maybe subsample the data
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = np.random.choice(N, num_samples, replace=False)
            N = num_samples
            X = X[mask]
            y = y[mask]
        if N == 0:
            raise ValueError("check_accuracy: X holds no examples")

        # Compute predictions in batches
        num_batches = N // batch_size
        if N % batch_size != 0:
            num_batches += 1
        y_pred = []
        for i in range(num_batches):
            start = i * batch_size
            end = (i + 1) * batch_size
            scores = self.model.loss(X[start:end])
            y_pred.append(np.argmax(scores, axis=1))
        y_pred = np.hstack(y_pred)
        acc = np.mean(y_pred == y)

        return acc

    def train(self):
        """
        Run optimization to train the model.

        An epoch is ``max(num_train // batch_size, 1)`` iterations. At the end of
        each epoch the learning rate of every parameter is multiplied by
        lr_decay, the train and validation accuracies are recorded (they are
        also recorded after the first iteration, which is also the end of the
        first epoch when an epoch is one iteration), and a checkpoint is written
        if checkpoint_name is set. With verbose, the loss is printed every
        print_every iterations and the accuracies once per epoch.
        """
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        recorder = None
        if self.snapshot_every is not None:
            recorder = SnapshotRecorder(self.snapshot_every, self.max_snapshots, "Solver")
            recorder.record(0, self.model.params["W1"])
            self.snapshot_iters, self.W1_snapshots = recorder.iters, recorder.snapshots

        for t in range(num_iterations):
            self._step()
            if recorder is not None:
                recorder.offer(t + 1, self.model.params["W1"], last=t + 1 == num_iterations)

            # Maybe print training loss
            if self.verbose and t % self.print_every == 0:
                print("(Iteration %d / %d) loss: %f"
                      % (t + 1, num_iterations, self.loss_history[-1]))

            # At the end of every epoch, increment the epoch counter and decay
            # the learning rate.
            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                for k in self.optim_configs:
                    self.optim_configs[k]["learning_rate"] *= self.lr_decay

            # Check train and val accuracy on the first iteration, the last
            # iteration, and at the end of each epoch.
            first_it = t == 0
            last_it = t == num_iterations - 1
            if first_it or last_it or epoch_end:
                train_acc = self.check_accuracy(self.X_train, self.y_train,
                                                num_samples=self.num_train_samples)
                val_acc = self.check_accuracy(self.X_val, self.y_val,
                                              num_samples=self.num_val_samples)
                self.train_acc_history.append(train_acc)
                self.val_acc_history.append(val_acc)
                self.acc_iters.append(t + 1)
                self._save_checkpoint()

                if self.verbose:
                    print("(Epoch %d / %d) train acc: %f; val_acc: %f"
                          % (self.epoch, self.num_epochs, train_acc, val_acc))

                # Keep track of the best model
                if val_acc > self.best_val_acc or not self.best_params:
                    self.best_val_acc = val_acc
                    self.best_params = {k: v.copy() for k, v in self.model.params.items()}

        # At the end of training swap the best params into the model
        if self.best_params:
            self.model.params = {k: v.copy() for k, v in self.best_params.items()}

"""The same two-layer net in PyTorch on the CPU, for the benchmark (optional).

Same model, initialisation (NumPy's global random state), L2 convention
(reg * sum(W**2)), minibatch sampling (np.random.choice) and training loop as
cs231n.classifiers.neural_net.TwoLayerNet; the gradients come from autograd
and the update is an in-place SGD step. Inputs may be NumPy arrays: they are
wrapped with torch.from_numpy (no copy). Not part of the kit.
"""
import numpy as np
import torch
import torch.nn.functional as F


def as_tensor(a):
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))


class TorchNet(object):
    def __init__(self, input_size, hidden_size, output_size, std=1e-4, dtype=torch.float32):
        def param(a):
            return torch.from_numpy(a).to(dtype).requires_grad_()
        self.params = {
            "W1": param(std * np.random.randn(input_size, hidden_size)),
            "b1": param(np.zeros(hidden_size)),
            "W2": param(std * np.random.randn(hidden_size, output_size)),
            "b2": param(np.zeros(output_size)),
        }

    def _scores(self, X):
        p = self.params
        h = torch.addmm(p["b1"], X, p["W1"]).relu_()
        return torch.addmm(p["b2"], h, p["W2"])

    def loss(self, X, y=None, reg=0.0):
        X = as_tensor(X)
        if y is None:
            with torch.no_grad():
                return self._scores(X)
        y = as_tensor(y)
        p = self.params
        scores = self._scores(X)
        loss = F.cross_entropy(scores, y) + reg * ((p["W1"] * p["W1"]).sum() + (p["W2"] * p["W2"]).sum())
        names = list(p)
        grads = torch.autograd.grad(loss, [p[n] for n in names])
        return loss.item(), dict(zip(names, grads))

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, verbose=False):
        X, y, X_val, y_val = (as_tensor(a) for a in (X, y, X_val, y_val))
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train // batch_size, 1)
        loss_history, train_acc_history, val_acc_history = [], [], []
        for it in range(num_iters):
            idx = torch.from_numpy(np.random.choice(num_train, batch_size, replace=True))
            X_batch = X.index_select(0, idx)
            y_batch = y.index_select(0, idx)
            loss, grads = self.loss(X_batch, y_batch, reg=reg)
            loss_history.append(loss)
            with torch.no_grad():
                for name, param in self.params.items():
                    param.add_(grads[name], alpha=-learning_rate)
            if it % iterations_per_epoch == 0:
                train_acc_history.append((self.predict(X_batch) == y_batch).double().mean().item())
                val_acc_history.append((self.predict(X_val) == y_val).double().mean().item())
                learning_rate *= learning_rate_decay
        return {"loss_history": loss_history, "train_acc_history": train_acc_history,
                "val_acc_history": val_acc_history}

    def predict(self, X):
        return self.loss(X).argmax(dim=1)

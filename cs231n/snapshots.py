"""Snapshots of weights during training, for looking at how they change."""
from cs231n._validation import positive_int


class SnapshotRecorder(object):
    """
    Copies of a weight matrix taken during training, with bounded memory.

    A snapshot is taken every `every` iterations. When `max_snapshots` are
    held, every other one is dropped (the first is kept) and the interval
    doubles, so a long run keeps snapshots spread over all of it. The lists
    `iters` and `snapshots` are thinned in place: references to them stay
    current.
    """

    def __init__(self, every, max_snapshots=64, where="train"):
        """
        Inputs:
        - every: Take a snapshot every `every` iterations (snapshot_every).
        - max_snapshots: Most snapshots held at once, at least 2.
        - where: The function the settings were given to, for error messages.
        """
        self.every = positive_int(every, "snapshot_every", where)
        self.max_snapshots = positive_int(max_snapshots, "max_snapshots", where)
        if self.max_snapshots < 2:
            raise ValueError(f"{where}: max_snapshots must be at least 2 (the first and the last "
                             f"snapshot), got {max_snapshots!r}")
        self.iters = []
        self.snapshots = []

    def due(self, iteration):
        """Whether a snapshot is due after `iteration` iterations."""
        return iteration % self.every == 0

    def offer(self, iteration, W, last=False):
        """Record W after `iteration` iterations if a snapshot is due then, or if it is the last."""
        if last or self.due(iteration):
            self.record(iteration, W)

    def record(self, iteration, W):
        """Store a copy of W as the state after `iteration` iterations."""
        if self.iters and self.iters[-1] == iteration:
            return
        if len(self.iters) >= self.max_snapshots:
            # Keep snapshots 0, 2k, 4k, ... and take them every 2k from now on.
            self.iters[:], self.snapshots[:] = self.iters[::2], self.snapshots[::2]
            self.every *= 2
        self.iters.append(iteration)
        self.snapshots.append(W.copy())

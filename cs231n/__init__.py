"""The cs231n package: the code behind the two-layer neural network assignment."""

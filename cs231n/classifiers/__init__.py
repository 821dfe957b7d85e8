"""Classifiers built on cs231n.layers."""

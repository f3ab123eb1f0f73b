"""The built-in action types: for each, its config model and its spec (see base.py).

The functions that run them are in activities/, which the workflow never imports.
"""

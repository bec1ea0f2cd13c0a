"""ipywidgets views onto the store, for use inside notebooks."""

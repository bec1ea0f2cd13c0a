"""Running a model: scikit-learn and ONNX Runtime behind one ``predict`` (``engines``), and ONNX
conversion with its check against scikit-learn (``onnx_export``).

Below both the registry (which converts at export and opens packages) and serving (which
predicts), so neither has to import the other to run a model.
"""

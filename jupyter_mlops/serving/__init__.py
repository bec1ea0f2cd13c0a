"""Using a model package: ONNX conversion at export, the scikit-learn / ONNX Runtime engines,
the REST server and batch scoring. Everything here starts from a verified ``PackagedModel``."""

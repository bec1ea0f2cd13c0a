"""Using a model package: ONNX conversion at export, the scikit-learn / ONNX Runtime engines,
the REST server and batch scoring. Everything here starts from a verified ``PackagedModel``."""

# Defaults shared by the modules and the command line (kept here so `jupyter mlops --help` stays light).
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_CHUNK_ROWS = 100_000

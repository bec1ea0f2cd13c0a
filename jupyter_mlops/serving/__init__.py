"""Using a model package: the REST server and batch scoring. Everything here starts from a verified
``PackagedModel``; the scikit-learn / ONNX Runtime engines and ONNX conversion are ``runtimes/``."""

# Defaults shared by the modules and the command line (kept here so `jupyter mlops --help` stays light).
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_CHUNK_ROWS = 100_000

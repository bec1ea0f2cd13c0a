"""Notebook pipelines: ``spec`` (pipeline.yaml -> validated DAG), the runner, kernels, executors and cache."""

"""Lineage: the graph from raw input files through pipeline steps and runs to model versions,
aliases, served models and the monitor runs that watched them (graph.py), and OpenLineage run
events for each pipeline run (pipeline/openlineage.py emits them; the pipeline run is their author)."""

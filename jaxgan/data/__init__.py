"""Datasets: simulators, file formats and the batching pipeline. Knows nothing of networks."""

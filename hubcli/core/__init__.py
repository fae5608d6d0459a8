"""The dataset model: datasets, tensors, samples; built on format, storage and video."""

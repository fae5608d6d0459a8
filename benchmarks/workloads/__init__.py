"""The workloads, one module each; ``benchmarks.cli`` runs those a run selects."""

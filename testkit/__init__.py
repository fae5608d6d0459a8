"""Support code shared by the tests and the benchmark (``benchmarks/``).

One copy of each helper both need: the frame hash (``frames``), video specs and their
encoding (``videos``), the counting, fault-injecting HTTP proxy (``proxy``), moto's S3
server (``s3``) and environment patching (``env``). It imports nothing of ``tests/``
(the tests import it, not the other way round) and nothing of hubcli: it is the
independent side that hubcli is measured against. ``frames`` imports only numpy, since
the benchmark's peers import it under another interpreter that has neither PyAV nor
hubcli.
"""

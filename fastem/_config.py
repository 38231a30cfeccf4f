"""Numeric knobs shared by the kernels and estimators.

Kernels take these as arguments (never read them as globals, which Numba
would freeze into its on-disk cache).
"""

#: Rows per block of a statistics pass. Blocks, not threads, partition the
#: work, so results do not depend on the thread count.
BLOCK_ROWS = 1024

#: Rows per chunk when a prediction is computed piecewise.
PREDICT_CHUNK_ROWS = 65536

#: Bytes per chunk when a memory-mapped or Dask-backed array is streamed.
STREAM_CHUNK_BYTES = 64 * 2**20

#: Rows sampled to initialize a fit on data that is streamed or distributed.
INIT_SAMPLE_ROWS = 100_000

#: Rows (evenly spaced) from which a fit estimates the data's per-feature scale
#: and covariance: they set the collapse floor and seed re-seeded components,
#: so an estimate serves, and a large X is not read once more before EM.
DESCRIBE_SAMPLE_ROWS = 16_384

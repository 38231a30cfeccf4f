"""What the NaN entries of X are: per-feature summaries and missingness patterns.

With ``missing='marginalize'`` an estimator accepts NaN in X (missing at
random; infinity is still refused). A data source (:mod:`fastem._data`,
:mod:`fastem.distributed`) then records whether any NaN is present
(``source.has_nan``), the fit checks every feature is observed somewhere
(:func:`observed_summary`, :func:`fastem._validation.check_observed`), and
each pass over a chunk holding NaN hands the family a :class:`MissingRows`
for that chunk (the ``missing=`` keyword of ``Family.statistics`` and
``Family.row_outputs``; see :class:`fastem.families._base.Family`).
"""
import numpy as np

#: values of the estimators' ``missing`` parameter
MISSING_OPTIONS = ("raise", "marginalize")

#: rows per slice when a summary scans X (bounds the boolean temporaries)
_SCAN_ROWS = 65536


def observed_summary(X, w, start=0):
    """Per-feature count and weight of the rows of ``X`` that observe it.

    Parameters
    ----------
    X : ndarray of shape (n, n_features), float
    w : ndarray of shape (n,), float64
        Sample weights of the rows.
    start : int
        Index of the first row (unused; the data sources' map-reduce calling
        convention).

    Returns
    -------
    count : ndarray of shape (n_features,), int64
        Rows in which the feature is not NaN.
    weight : ndarray of shape (n_features,), float64
        Summed ``w`` of those rows.
    """
    D = X.shape[1]
    count = np.zeros(D, dtype=np.int64)
    weight = np.zeros(D)
    for lo in range(0, X.shape[0], _SCAN_ROWS):
        observed = ~np.isnan(X[lo:lo + _SCAN_ROWS])
        count += observed.sum(axis=0)
        weight += w[lo:lo + _SCAN_ROWS] @ observed
    return count, weight


def add_summaries(*parts):
    """Add :func:`observed_summary` results of chunks (element-wise)."""
    count, weight = parts[0]
    for c, w in parts[1:]:
        count = count + c
        weight = weight + w
    return count, weight


class MissingRows:
    """The NaN entries of one chunk of rows, grouped by missingness pattern.

    Built by a data source for a chunk that holds NaN and handed to the
    family's pass; the grouping is computed on first use and kept, so an
    in-memory fit groups its rows once, not once per iteration.

    Parameters
    ----------
    X : ndarray of shape (n, n_features)
        The chunk (only read, never kept beyond the grouping).

    Attributes (after :meth:`groups`)
    ---------------------------------
    order : ndarray of shape (n,), int64
        Row indices sorted by pattern (stable: within a pattern, rows keep
        their order).
    starts : ndarray of shape (n_patterns + 1,), int64
        Pattern ``p`` is ``order[starts[p]:starts[p + 1]]``.
    observed : ndarray of shape (n_patterns, n_features), bool
        The features each pattern observes.
    """

    def __init__(self, X):
        self._X = X
        self._groups = None
        self._unobserved = None

    def groups(self):
        """``(order, starts, observed)``: see the class docstring."""
        if self._groups is None:
            self._groups = group_by_pattern(self._X)
        return self._groups

    def unobserved_rows(self):
        """Indices (int64, increasing) of the rows with no observed value."""
        if self._unobserved is None:
            X = self._X
            parts = [lo + np.flatnonzero(np.isnan(X[lo:lo + _SCAN_ROWS]).all(axis=1))
                     for lo in range(0, X.shape[0], _SCAN_ROWS)]
            self._unobserved = np.concatenate(parts).astype(np.int64)
        return self._unobserved


def group_by_pattern(X):
    """Group the rows of ``X`` by which features are NaN.

    Returns
    -------
    order, starts, observed
        As the attributes of :class:`MissingRows`. Patterns are ordered by
        their packed bit masks, so the grouping does not depend on row order
        beyond the order of rows within a pattern.
    """
    n, D = X.shape
    nbytes = -(-D // 8)
    packed = np.empty((n, nbytes), dtype=np.uint8)
    for lo in range(0, n, _SCAN_ROWS):
        packed[lo:lo + _SCAN_ROWS] = np.packbits(np.isnan(X[lo:lo + _SCAN_ROWS]), axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, nbytes))).ravel()
    uniques, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable").astype(np.int64)
    starts = np.searchsorted(inverse[order], np.arange(uniques.size + 1)).astype(np.int64)
    masks = np.frombuffer(uniques.tobytes(), dtype=np.uint8).reshape(-1, nbytes)
    observed = ~np.unpackbits(masks, axis=1, count=D).astype(bool)
    return order, starts, observed

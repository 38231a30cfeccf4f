"""Input checks shared by every estimator.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong kind of
object) with a message that names the argument and says what is wrong, so
that nothing invalid ever reaches a compiled kernel.

Where scikit-learn refuses the same input, the message starts with
scikit-learn's own words (so code and tests written against scikit-learn's
messages keep working) and then adds what fastem knows. An invalid
constructor parameter raises scikit-learn's ``InvalidParameterError`` (a
subclass of both ``ValueError`` and ``TypeError``).
"""
import numbers

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _check_feature_names


def _by_estimator(owner):
    """" by KMeans" (scikit-learn's phrase naming the estimator) or ""."""
    return f" by {type(owner).__name__}" if owner is not None else ""


def _invalid_parameter(name, constraint, value, owner=None):
    """scikit-learn's message for a parameter of estimator ``owner`` (or None)
    outside its constraint."""
    of = f" of {type(owner).__name__}" if owner is not None else ""
    return InvalidParameterError(f"The {name!r} parameter{of} must be {constraint}. "
                                 f"Got {value!r} instead.")


def _interval(kind, low, high, low_open=False):
    """scikit-learn's wording of an interval constraint, e.g. "an int in the range [1, inf)"."""
    fmt = int if kind == "int" else float
    left = "(" if low_open or low is None else "["
    right = ")" if high is None else "]"
    lo = "-inf" if low is None else fmt(low)
    hi = "inf" if high is None else fmt(high)
    return f"{'an int' if kind == 'int' else 'a float'} in the range {left}{lo}, {hi}{right}"


def check_feature_names(estimator, X, *, reset):
    """Record (``reset=True``) or compare the column names of a DataFrame ``X``.

    scikit-learn's own helper, so ``feature_names_in_`` and the warnings or
    errors on a mismatch are exactly scikit-learn's; fitting on an array
    without names removes a stale ``feature_names_in_``. Dask arrays and other
    containers without string column names have no names.
    """
    _check_feature_names(estimator, X, reset=reset)


def check_data(X, name="X", *, min_samples=1, dtype=None, finite=True, owner=None,
               allow_nan=False):
    """Return ``X`` as a C-contiguous float32/float64 2-D array.

    Float32 and float64 input keep their dtype (unless ``dtype`` is given);
    everything else numeric becomes float64. The user's array is never
    modified: a copy is made only when the layout or dtype must change.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        Argument name used in error messages.
    min_samples : int
        Fewest rows accepted.
    dtype : numpy dtype or None
        Force this dtype (used at predict time to match the fit).
    finite : bool
        Refuse NaN and infinity.
    owner : estimator or None
        The estimator checking ``X``, named in scikit-learn's words.
    allow_nan : bool
        Accept NaN (missing values, ``missing='marginalize'``); infinity is
        still refused when ``finite``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), C-contiguous
    """
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(f"Sparse data was passed for {name}, but dense data is required. "
                        f"Use '.toarray()' to convert to a dense numpy array. fastem's "
                        f"kernels need dense rows: {name} is a sparse matrix (call "
                        f"{name}.toarray() if it fits in memory).")
    arr = _as_real_array(X, name)
    if arr.ndim in (0, 1):
        got = "scalar" if arr.ndim == 0 else "1D"
        raise ValueError(f"Expected 2D array, got {got} array instead: {name} must be 2-D "
                         f"of shape (n_samples, n_features), got shape {arr.shape}.\n"
                         f"Reshape your data either using {name}.reshape(-1, 1) if your "
                         f"data has a single feature or {name}.reshape(1, -1) if it "
                         f"contains a single sample.")
    if arr.ndim > 2:
        raise ValueError(f"Found array with dim {arr.ndim}, while dim <= 2 is required"
                         f"{_by_estimator(owner)}. {name} must be 2-D of shape (n_samples, "
                         f"n_features), got shape {arr.shape}.")
    least = max(min_samples, 1)
    if arr.shape[0] < least:
        raise ValueError(f"Found array with {arr.shape[0]} sample(s) (shape={arr.shape}) "
                         f"while a minimum of {least} is required{_by_estimator(owner)}. "
                         f"{name} has {arr.shape[0]} sample(s).")
    if arr.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a "
                         f"minimum of 1 is required{_by_estimator(owner)}. {name} has 0 "
                         f"feature(s).")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if finite and not _all_finite(arr):
        if not allow_nan:
            _check_finite(arr, name, remedy=_nan_remedy(arr, owner))
        elif np.isinf(arr).any():
            first = np.argwhere(np.isinf(arr))[0]
            raise ValueError(f"Input {name} contains infinity or a value too large for "
                             f"{arr.dtype!r}. {name}[{first[0]}, {first[1]}] is "
                             f"{arr[first[0], first[1]]}: infinity is not a missing value "
                             f"(only NaN is); remove or replace it.")
    return arr


def _nan_remedy(arr, owner):
    """What to do about NaN in ``arr``: impute, or (estimators that can) marginalize."""
    if owner is not None and "missing" in getattr(owner, "_get_param_names", list)() \
            and getattr(owner, "missing", None) == "raise" and np.isnan(arr).any():
        return ("remove or impute those values, or pass missing='marginalize' to fit "
                "around them")
    return "remove or impute those values"


def check_observed(count, weight, name="X"):
    """Refuse data with NaN in which a feature (or every feature) is never observed.

    Parameters
    ----------
    count : ndarray of shape (n_features,), int
        Rows in which each feature is not NaN.
    weight : ndarray of shape (n_features,), float
        Summed sample weight of those rows.
    name : str
        Argument name used in error messages.
    """
    if not count.any():
        raise ValueError(f"{name} has no observed value: every entry is NaN. A fit "
                         f"needs at least one observed value of every feature.")
    unobserved = np.flatnonzero(~(weight > 0))
    if unobserved.size:
        d = int(unobserved[0])
        where = ("is NaN in every row" if count[d] == 0 else
                 "is observed only in rows of zero sample_weight")
        raise ValueError(f"Feature {d} of {name} {where} ({unobserved.size} such "
                         f"feature(s): {unobserved[:10].tolist()}); nothing can be "
                         f"learned about it. Drop the feature or give it observed "
                         f"values.")


#: Values from which a finiteness scan runs compiled on threads (below, NumPy
#: is as fast and nothing compiles).
_SCAN_MIN_VALUES = 1 << 20


def _all_finite(arr):
    """True when every value of the float 2-D ``arr`` is finite."""
    if arr.size < _SCAN_MIN_VALUES:
        return bool(np.isfinite(arr).all())
    from ._threads import resolve_n_jobs, run_lanes
    from .kernels.checks import finite_lanes
    # scanned as rows of 16 values whatever the shape: wide enough rows to
    # vectorize (a C-contiguous array's values in memory order)
    flat = arr.reshape(-1)
    tail = flat.size % 16
    if tail and not np.isfinite(flat[-tail:]).all():
        return False
    n = resolve_n_jobs(None)
    finite = np.zeros(n, dtype=np.bool_)
    run_lanes(finite_lanes, (flat[:flat.size - tail].reshape(-1, 16), finite), n, n)
    return bool(finite.all())


def contains_nan(arr):
    """True when the float 2-D ``arr``, already checked free of infinity, holds NaN."""
    return not _all_finite(arr)


def _as_real_array(X, name):
    """``np.asarray(X)`` refusing complex, string and non-numeric object data.

    An object array of numbers is converted to float64 (as scikit-learn does);
    one holding anything else is a ``TypeError`` naming ``name``.
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") \
            from None
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} holds complex numbers "
                         f"(dtype {arr.dtype}); fastem needs real numbers.")
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers; its object array "
                            f"could not be converted: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    return arr


def _check_finite(arr, name, input_name=None, remedy="remove or impute those values"):
    """Refuse NaN and infinity in ``arr``, in scikit-learn's words, naming the first cell.

    ``input_name`` is the name in scikit-learn's phrase ("Input X contains
    NaN."); scikit-learn says just "Input contains NaN." for initial parameters.
    """
    finite = np.isfinite(arr)
    if finite.all():
        return
    what = f"Input {name}" if input_name is None else input_name
    if np.isnan(arr).any():
        first = np.argwhere(np.isnan(arr))[0]
        head = f"{what} contains NaN."
    else:
        first = np.argwhere(~finite)[0]
        head = f"{what} contains infinity or a value too large for {arr.dtype!r}."
    if arr.ndim == 2:
        where = f"row {first[0]}, column {first[1]}"
    else:
        where = f"index {first[0] if arr.ndim == 1 else tuple(int(i) for i in first)}"
    raise ValueError(f"{head} The first NaN or infinity in {name} is at {where}; "
                     f"{remedy}.")


def check_sample_weight(sample_weight, n_samples):
    """Return sample weights as a float64 array of shape (n_samples,).

    ``None`` gives unit weights. Weights must be finite, non-negative and not
    all zero.
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    w = _as_real_array(sample_weight, "sample_weight")
    if w.ndim == 0:
        w = np.full(n_samples, float(w), dtype=np.float64)
    elif w.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got {w.ndim}D array. "
                         f"Expected either a scalar value or a 1D array of length "
                         f"{n_samples}. sample_weight must have shape ({n_samples},) to "
                         f"match X, got shape {w.shape}.")
    elif w.shape[0] != n_samples:
        raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n_samples},)! "
                         f"sample_weight must have shape ({n_samples},) to match X, one "
                         f"weight per row.")
    w = np.ascontiguousarray(w, dtype=np.float64)
    _check_finite(w, "sample_weight")
    if (w < 0).any():
        raise ValueError(f"Negative values in data passed to `sample_weight`. "
                         f"sample_weight must be non-negative; found {int((w < 0).sum())} negative value(s), "
                         f"the first at index {int(np.argmax(w < 0))}.")
    if not (w > 0).any():
        raise ValueError("Sample weights must contain at least one non-zero number. "
                         "sample_weight is zero for every sample; at least one sample "
                         "needs a positive weight.")
    return w


def as_numeric_array(X, name="X"):
    """``np.asarray(X)`` for estimators with their own domain checks.

    Refuses complex, string and non-numeric object data and ragged nested
    lists with a message naming ``name``; object arrays of numbers become
    float64. No shape or finiteness checks (see :func:`check_data`).
    """
    return _as_real_array(X, name)


def check_n_features(X, n_features_in, name="X", estimator="the estimator"):
    """Refuse ``X`` whose column count differs from the fitted one.

    ``estimator`` (e.g. the class name) is named in the message, which reads
    as scikit-learn's: "X has 1 features, but KMeans is expecting 4 features
    as input".
    """
    if X.shape[1] != n_features_in:
        raise ValueError(f"{name} has {X.shape[1]} features, but {estimator} is "
                         f"expecting {n_features_in} features as input.")


def check_int(value, name, *, low=None, high=None, allow_none=False, owner=None):
    """Return ``value`` as int, refusing other types and out-of-range values.

    Raises ``InvalidParameterError`` with scikit-learn's message, naming the
    estimator ``owner`` (if given) whose parameter it is.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or (low is not None and value < low) or (high is not None and value > high):
        constraint = _interval("int", low, high)
        raise _invalid_parameter(name, constraint + (" or None" if allow_none else ""),
                                 value, owner)
    return int(value)


def check_float(value, name, *, low=None, high=None, low_open=False, owner=None):
    """Return ``value`` as float, refusing other types, NaN and out-of-range values.

    Raises ``InvalidParameterError`` with scikit-learn's message.
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if ok:
        v = float(value)
        ok = not np.isnan(v) and (high is None or v <= high) and (
            low is None or (v > low if low_open else v >= low))
    if not ok:
        raise _invalid_parameter(name, _interval("float", low, high, low_open), value,
                                 owner)
    return float(value)


def check_option(value, name, options, owner=None):
    """Refuse ``value`` unless it is one of ``options`` (``InvalidParameterError``)."""
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in sorted(options))
        raise _invalid_parameter(name, f"a str among {{{listed}}}", value, owner)
    return value


def check_init_array(value, name, shape, dtype=np.float64, sklearn_name=None):
    """Return a user-given initial parameter array, checking shape and finiteness.

    ``sklearn_name`` is scikit-learn's name of the parameter in its messages
    ("The parameter 'means' should have the shape of ..."); by default
    ``name`` without its ``_init`` suffix.
    """
    sk = sklearn_name or name.removesuffix("_init")
    arr = _as_real_array(value, name)
    if arr.shape != tuple(shape):
        raise ValueError(f"The parameter {sk!r} should have the shape of {tuple(shape)}, "
                         f"but got {arr.shape}: {name} must have shape {tuple(shape)}.")
    arr = np.array(arr, dtype=dtype, order="C")  # a private copy
    _check_finite(arr, name, input_name="Input")
    return arr


def check_random_state(seed, owner=None):
    """Turn ``seed`` into a ``np.random.RandomState`` (as scikit-learn does).

    An unusable seed raises ``InvalidParameterError`` with scikit-learn's message.
    """
    from sklearn.utils import check_random_state as _sk_check

    try:
        return _sk_check(seed)
    except (TypeError, ValueError):
        raise _invalid_parameter(
            "random_state", "an int in the range [0, 4294967295], an instance of "
            "'numpy.random.mtrand.RandomState' or None", seed, owner) from None


def check_weights_init(weights, n_components):
    """Return user-given initial mixing weights (or None), normalized to sum to 1."""
    if weights is None:
        return None
    w = check_init_array(weights, "weights_init", (n_components,))
    if (w < 0).any() or (w > 1).any():
        raise ValueError(f"The parameter 'weights' should be in the range [0, 1], but "
                         f"got min value {w.min():.5f}, max value {w.max():.5f}: "
                         f"weights_init must lie in [0, 1].")
    if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):  # float32 input rounds
        raise ValueError(f"The parameter 'weights' should be normalized, but got "
                         f"sum(weights) = {w.sum():.5f}: weights_init must sum to 1 "
                         f"(it sums to {w.sum():.10g}).")
    return w / w.sum()


def is_sparse(X):
    """True for a ``scipy.sparse`` matrix or array (any format)."""
    import scipy.sparse as sp
    return sp.issparse(X)


def check_sparse_data(X, name="X", *, dtype=None, owner=None):
    """Return sparse ``X`` as a CSR matrix of float32/float64 with int32 indices.

    Other formats (CSC, COO, ...) are converted to CSR once, as scikit-learn
    does. Float32 and float64 data keep their dtype (unless ``dtype`` is
    given); other numeric data become float64. The user's matrix is never
    modified: its arrays are shared when they already fit, copied otherwise.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n_samples, n_features)
    name : str
        Argument name used in error messages.
    dtype : numpy dtype or None
        Force this dtype.
    owner : estimator or None
        The estimator checking ``X``, named in scikit-learn's words.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
    """
    import scipy.sparse as sp
    if X.ndim != 2:
        raise ValueError(f"Expected 2D input, got input with shape {X.shape}: {name} "
                         f"must be 2-D of shape (n_samples, n_features).")
    if X.format != "csr":
        X = X.tocsr()
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} holds complex numbers "
                         f"(dtype {X.dtype}); fastem needs real numbers.")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}.")
    n_samples, n_features = X.shape
    if n_samples < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                         f"minimum of 1 is required{_by_estimator(owner)}. {name} has 0 "
                         f"sample(s).")
    if n_features < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a "
                         f"minimum of 1 is required{_by_estimator(owner)}. {name} has 0 "
                         f"feature(s).")
    if dtype is None:
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    nnz = int(X.indptr[-1])
    if max(nnz, n_features) > np.iinfo(np.int32).max:
        raise ValueError(f"Only sparse matrices with 32-bit integer indices are "
                         f"accepted. Got {X.indices.dtype} indices: {name} has {nnz} "
                         f"stored values and {n_features} features, more than 32-bit "
                         f"indices can address.")
    data = np.ascontiguousarray(X.data[:nnz], dtype=dtype)
    indices = np.ascontiguousarray(X.indices[:nnz], dtype=np.int32)
    indptr = np.ascontiguousarray(X.indptr, dtype=np.int32)
    bad = ~np.isfinite(data)
    if bad.any():
        first = int(np.argmax(bad))
        row = int(np.searchsorted(indptr, first, side="right")) - 1
        head = (f"Input {name} contains NaN." if np.isnan(data[first]) else
                f"Input {name} contains infinity or a value too large for "
                f"{data.dtype!r}.")
        raise ValueError(f"{head} The first NaN or infinity in {name} is at row {row}, "
                         f"column {int(indices[first])}; remove or impute those values.")
    return sp.csr_matrix((data, indices, indptr), shape=X.shape, copy=False)

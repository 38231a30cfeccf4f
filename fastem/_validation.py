"""Input checks shared by every estimator.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong kind of
object) with a message that names the argument and says what is wrong, so
that nothing invalid ever reaches a compiled kernel.
"""
import numbers

import numpy as np


def check_data(X, name="X", *, min_samples=1, dtype=None, finite=True):
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

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), C-contiguous
    """
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(f"{name} is a sparse matrix; fastem needs a dense array "
                        f"(call {name}.toarray() if it fits in memory).")
    arr = _as_real_array(X, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features), "
                         f"got {arr.ndim}-D array of shape {arr.shape}. Reshape "
                         f"your data with {name}.reshape(-1, 1) for one feature or "
                         f"{name}.reshape(1, -1) for one sample.")
    if arr.shape[0] < max(min_samples, 1):
        raise ValueError(f"{name} has {arr.shape[0]} sample(s) (shape={arr.shape}); "
                         f"at least {max(min_samples, 1)} required.")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={arr.shape}) while a "
                         f"minimum of 1 is required.")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if finite and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or infinity (first at row {bad[0]}, "
                         f"column {bad[1]}); remove or impute those values.")
    return arr


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
        raise ValueError(f"{name} holds complex numbers (dtype {arr.dtype}): Complex "
                         f"data not supported; fastem needs real numbers.")
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers; its object array "
                            f"could not be converted: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    return arr


def check_sample_weight(sample_weight, n_samples):
    """Return sample weights as a float64 array of shape (n_samples,).

    ``None`` gives unit weights. Weights must be finite, non-negative and not
    all zero.
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    w = _as_real_array(sample_weight, "sample_weight")
    if w.ndim == 0:
        if not np.isfinite(w):
            raise ValueError("sample_weight contains NaN or infinity.")
        if not float(w) > 0:
            raise ValueError(f"sample_weight must be positive, got {float(w)}.")
        return np.full(n_samples, float(w), dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},) to match X, "
                         f"got shape {w.shape}.")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        raise ValueError("sample_weight contains NaN or infinity.")
    if (w < 0).any():
        raise ValueError(f"sample_weight must be non-negative; found {int((w < 0).sum())} "
                         f"negative value(s), the first at index {int(np.argmax(w < 0))}.")
    if not (w > 0).any():
        raise ValueError("sample_weight is zero for every sample; at least one "
                         "sample needs a positive weight.")
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
                         f"expecting {n_features_in} features as input (the number "
                         f"it was fitted with).")


def check_int(value, name, *, low=None, high=None, allow_none=False):
    """Return ``value`` as int, refusing other types and out-of-range values."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} "
                        f"({type(value).__name__}).")
    _check_range(value, name, low, high)
    return int(value)


def check_float(value, name, *, low=None, high=None, low_open=False):
    """Return ``value`` as float, refusing other types, NaN and out-of-range values."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} "
                        f"({type(value).__name__}).")
    value = float(value)
    if np.isnan(value):
        raise ValueError(f"{name} must not be NaN.")
    if low is not None and low_open and value <= low:
        raise ValueError(f"{name} must be > {low}, got {value}.")
    _check_range(value, name, None if low_open else low, high)
    return value


def _check_range(value, name, low, high):
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}.")


def check_option(value, name, options):
    """Refuse ``value`` unless it is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}.")
    return value


def check_init_array(value, name, shape, dtype=np.float64):
    """Return a user-given initial parameter array, checking shape and finiteness."""
    arr = _as_real_array(value, name)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}.")
    arr = np.array(arr, dtype=dtype, order="C")  # a private copy
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return arr


def check_random_state(seed):
    """Turn ``seed`` into a ``np.random.RandomState`` (as scikit-learn does).

    An unusable seed is a ``ValueError`` naming ``random_state``.
    """
    from sklearn.utils import check_random_state as _sk_check

    try:
        return _sk_check(seed)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"random_state must be None, an integer in [0, 2**32 - 1] "
                         f"or a RandomState instance, got {seed!r} ({exc}).") from None


def check_weights_init(weights, n_components):
    """Return user-given initial mixing weights (or None), normalized to sum to 1."""
    if weights is None:
        return None
    w = check_init_array(weights, "weights_init", (n_components,))
    if (w < 0).any() or (w > 1).any():
        raise ValueError("weights_init must lie in [0, 1], got range "
                         f"[{w.min():.6g}, {w.max():.6g}].")
    if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):  # float32 input rounds
        raise ValueError(f"weights_init must sum to 1, got {w.sum():.10g}.")
    return w / w.sum()

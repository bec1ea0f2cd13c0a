"""The exact types an export trusts without being told; anything else must be named in ``trust``.

skops already trusts scikit-learn's estimators, numpy's and scipy's ufuncs and dtypes and the
plain containers; ``skops.io.get_untrusted_types`` names everything else a file holds. Beyond
those, an export trusts only the exact names below: what ``get_untrusted_types`` reported for
scikit-learn 1.9's own estimators (every one of ``sklearn.utils.all_estimators()`` fitted with its
defaults, meta-estimators around LogisticRegression/Ridge, and the usual variants: neighbour
algorithms and metrics, MLP solvers, boosting losses, Gaussian-process kernels, feature-selection
score functions, column selectors). Never a module prefix: ``builtins.``, ``numpy.`` or ``sklearn.``
would also trust ``builtins.eval``, ``numpy.load`` or ``sklearn.datasets.fetch_openml``. A function
is trusted only where scikit-learn itself puts it by default (``SelectKBest``'s ``f_classif``).

``sklearn.tree._tree.Tree`` and the histogram-boosting ``TreePredictor`` are listed although skops
holds them back: their node arrays are not bounds-checked, so a crafted file can crash a process
that predicts with it (not run code). Forests and boosting need them; the registry's digest ties
a package to the file its approver exported.
"""
from __future__ import annotations

from ..exceptions import InvalidInputError

SKLEARN_MODEL_TYPES = frozenset({
    # containers and scalar types scikit-learn's parameters hold
    "builtins.frozenset",
    "numpy.dtype", "numpy.number", "numpy.integer", "numpy.signedinteger", "numpy.unsignedinteger",
    "numpy.floating", "numpy.inexact", "numpy.generic",
    "numpy.mean",  # FeatureAgglomeration's pooling_func
    "scipy.sparse._csr.csr_matrix", "scipy.sparse._csc.csc_matrix",
    "scipy.interpolate._bsplines.BSpline",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",  # SplineTransformer
    # trees, neighbours, losses, optimisers
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64", "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64", "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn._loss.loss.HalfTweedieLossIdentity",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.cluster._kmeans._kmeans_single_lloyd", "sklearn.cluster._kmeans._kmeans_single_elkan",
    # fitted parts of meta-estimators
    "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "sklearn.multiclass._ConstantPredictor",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "sklearn.compose._column_transformer.make_column_selector",
    "sklearn.model_selection._split.StratifiedKFold", "sklearn.model_selection._split.KFold",
    "sklearn.metrics._scorer._PassthroughScorer", "sklearn.metrics._scorer._Scorer",
    "sklearn.metrics._scorer._CurveScorer", "sklearn.metrics._classification.balanced_accuracy_score",
    "sklearn.utils._bunch.Bunch",
    "sklearn.utils._metadata_requests.MetadataRequest", "sklearn.utils._metadata_requests.MethodMetadataRequest",
    # Gaussian-process kernels (parameter holders)
    *(f"sklearn.gaussian_process.kernels.{kernel}" for kernel in (
        "ConstantKernel", "WhiteKernel", "RBF", "Matern", "RationalQuadratic", "ExpSineSquared", "DotProduct",
        "PairwiseKernel", "Sum", "Product", "Exponentiation")),
    # feature-selection score functions (pure computations on X, y)
    *(f"sklearn.feature_selection._univariate_selection.{fn}" for fn in (
        "f_classif", "f_regression", "r_regression", "chi2")),
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
})


def check_trust(trust) -> list[str]:
    """``trust`` as a list of exact type names; a prefix or pattern is refused rather than ignored."""
    names = list(trust or [])
    for name in names:
        if not isinstance(name, str) or not name or name.endswith(".") or any(c in name for c in "*?[] \n"):
            raise InvalidInputError(f"trust: {name!r} is not a type name; name exact types such as "
                                    "'mypackage.features.Clip' (a module prefix or a pattern is not accepted)")
    return names


def refused_types(needed: list[str], trust) -> list[str]:
    """The types of ``needed`` (from ``get_untrusted_types``) neither listed above nor named in ``trust``."""
    extra = set(check_trust(trust))
    return sorted(t for t in needed if t not in SKLEARN_MODEL_TYPES and t not in extra)

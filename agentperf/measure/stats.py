"""The one statistics module every command shares.

Pure functions over sequences of floats. Nothing here prints or knows about agents:
bench, profile, monitor and run-batch all summarise, compare and trend through these.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MODIFIED_Z_OUTLIER = 3.5  # Iglewicz and Hoaglin's cut-off, as hyperfine uses


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one sample set (values in the caller's unit)."""

    count: int
    mean: float
    median: float
    stdev: float
    mad: float
    min: float
    max: float
    p95: float
    p99: float

    @property
    def cv(self) -> float:
        """Coefficient of variation: stdev relative to the mean (0 when the mean is 0)."""
        return self.stdev / self.mean if self.mean else 0.0


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``pct`` in 0..100."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return _sorted_percentile(ordered, pct)


def _sorted_percentile(ordered: Sequence[float], pct: float) -> float:
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


def median_abs_deviation(values: Sequence[float]) -> float:
    """Unscaled MAD: the median of absolute deviations from the median."""
    med = statistics.median(values)
    return float(statistics.median(abs(v - med) for v in values))


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("summarize needs at least one value")
    ordered = sorted(float(v) for v in values)
    return Summary(
        count=len(ordered),
        mean=statistics.fmean(ordered),
        median=_sorted_percentile(ordered, 50),
        stdev=statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        mad=median_abs_deviation(ordered),
        min=ordered[0],
        max=ordered[-1],
        p95=_sorted_percentile(ordered, 95),
        p99=_sorted_percentile(ordered, 99),
    )


def modified_z_scores(values: Sequence[float]) -> list[float]:
    """Iglewicz-Hoaglin modified Z-scores, 0.6745 * (x - median) / MAD."""
    med = statistics.median(values)
    mad = median_abs_deviation(values)
    if mad == 0:
        return [0.0 if v == med else math.inf for v in values]
    return [0.6745 * (v - med) / mad for v in values]


def outlier_indices(values: Sequence[float], cutoff: float = MODIFIED_Z_OUTLIER) -> list[int]:
    return [i for i, z in enumerate(modified_z_scores(values)) if abs(z) > cutoff]


def bootstrap_ci(values: Sequence[float], *, statistic=statistics.median,
                 confidence: float = 0.95, resamples: int = 2000,
                 seed: int = 12345) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` (default: the median).

    Seeded so that the same samples always print the same interval.
    """
    if len(values) < 2:
        v = float(values[0]) if values else math.nan
        return (v, v)
    rng = random.Random(seed)
    n = len(values)
    data = list(values)
    estimates = sorted(statistic(rng.choices(data, k=n)) for _ in range(resamples))
    alpha = (1 - confidence) / 2
    return (_sorted_percentile(estimates, 100 * alpha),
            _sorted_percentile(estimates, 100 * (1 - alpha)))


@dataclass(frozen=True)
class LogRatio:
    """new/base as a ratio of geometric means, with its CI and p-value from one t test.

    Both come from the same estimate and standard error, so the interval excludes 1
    exactly when ``p_value`` is below 1 - ``confidence``: the verdict and the CI
    cannot contradict each other.
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    confidence: float
    estimate: float  # the difference of mean logs, new - base
    std_error: float


def log_ratio_test(base: Sequence[float], new: Sequence[float], *, confidence: float = 0.95,
                   floor: tuple[float, float] | None = None) -> LogRatio:
    """Welch's t test on log values: each value of ``base`` and ``new`` is one observation.

    Pass one value per independent unit (a worker process's mean log time), never
    samples that share a unit's speed. ``floor`` is (standard error, degrees of
    freedom) of run-to-run variation known from elsewhere; it replaces the
    within-run standard error when it is larger.
    """
    if len(base) < 1 or len(new) < 1 or len(base) + len(new) < 3:
        raise ValueError("log_ratio_test needs at least three observations")
    diff = statistics.fmean(new) - statistics.fmean(base)
    se, df = _welch_se_df(base, new)
    if floor is not None and floor[0] > se:
        se, df = floor
    return _t_result(diff, se, df, confidence)


def geometric_mean_ci(logs: Sequence[float], *,
                      confidence: float = 0.95) -> tuple[float, float, float]:
    """(geometric mean, CI low, CI high) of independent log values, by Student's t.

    The one-sample counterpart of :func:`log_ratio_test`: a run's own time and
    interval come from the same per-process observations as its comparison.
    """
    if len(logs) < 2:
        raise ValueError("geometric_mean_ci needs at least two observations")
    mean = statistics.fmean(logs)
    half = t_quantile(1 - (1 - confidence) / 2, len(logs) - 1) * statistics.stdev(logs) \
        / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def paired_log_ratio_test(differences: Sequence[float], *,
                          confidence: float = 0.95) -> LogRatio:
    """One-sample t test on paired log differences (new - base per round or per worker)."""
    n = len(differences)
    if n < 2:
        raise ValueError("paired_log_ratio_test needs at least two pairs")
    se = statistics.stdev(differences) / math.sqrt(n)
    return _t_result(statistics.fmean(differences), se, n - 1, confidence)


def _welch_se_df(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Welch's standard error and Satterthwaite degrees of freedom.

    A side with one observation contributes no variance of its own (it cannot
    estimate one); the other side's variance stands for both, as in a one-sample test.
    """
    va = statistics.variance(a) / len(a) if len(a) > 1 else None
    vb = statistics.variance(b) / len(b) if len(b) > 1 else None
    if va is None:
        assert vb is not None
        va = vb * len(b) / len(a)
        return math.sqrt(va + vb), len(b) - 1
    if vb is None:
        vb = va * len(a) / len(b)
        return math.sqrt(va + vb), len(a) - 1
    total = va + vb
    if total == 0:
        return 0.0, len(a) + len(b) - 2
    df = total**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return math.sqrt(total), df


def _t_result(diff: float, se: float, df: float, confidence: float) -> LogRatio:
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
        return LogRatio(math.exp(diff), math.exp(diff), math.exp(diff), p, df, confidence,
                        diff, 0.0)
    p = _t_two_sided_p(diff / se, df)
    half = t_quantile(1 - (1 - confidence) / 2, df) * se
    return LogRatio(math.exp(diff), math.exp(diff - half), math.exp(diff + half), p, df,
                    confidence, diff, se)


def t_quantile(q: float, df: float) -> float:
    """Quantile of Student's t (0.5 < q < 1), by bisection on the two-sided p-value."""
    if not 0.5 < q < 1:
        raise ValueError("t_quantile takes 0.5 < q < 1")
    target = 2 * (1 - q)
    low, high = 0.0, 1.0
    while _t_two_sided_p(high, df) > target and high < 1e12:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if _t_two_sided_p(mid, df) > target:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * high:
            break
    return (low + high) / 2


def benjamini_hochberg(p_values: Sequence[float], alpha: float) -> tuple[list[bool], float]:
    """Which hypotheses BH rejects at false-discovery rate ``alpha``, and the CI level
    that agrees with it.

    The level is 1 - R*alpha/m (R rejections of m, at least 1) - Benjamini and
    Yekutieli's false-coverage-rate intervals: every rejected p is at most R*alpha/m
    and every other p above it, so each interval excludes "no change" exactly when
    its hypothesis is rejected.
    """
    m = len(p_values)
    if m == 0:
        return [], 1 - alpha
    order = sorted(range(m), key=lambda i: p_values[i])
    rejected_count = 0
    for rank, index in enumerate(order, start=1):
        if p_values[index] <= rank * alpha / m:
            rejected_count = rank
    rejected = [False] * m
    for index in order[:rejected_count]:
        rejected[index] = True
    return rejected, 1 - max(rejected_count, 1) * alpha / m


@dataclass(frozen=True)
class MannWhitney:
    """Two-sided Mann-Whitney U test result."""

    u: float
    p_value: float
    exact: bool


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test.

    Exact distribution for samples without ties up to 20 each (scipy's
    ``method='exact'`` agrees); otherwise the normal approximation with tie and
    continuity correction (scipy's ``method='asymptotic'``).
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_u needs two non-empty samples")
    ranks, tie_term = _rank_with_ties([*a, *b])
    r1 = sum(ranks[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    u = max(u1, u2)
    if tie_term == 0 and n1 <= 20 and n2 <= 20:
        p = 2 * _exact_u_sf(int(u), n1, n2)
        return MannWhitney(u=u1, p_value=min(1.0, p), exact=True)
    n = n1 + n2
    mu = n1 * n2 / 2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    if sigma == 0:
        return MannWhitney(u=u1, p_value=1.0, exact=False)
    z = (u - mu - 0.5) / sigma
    p = math.erfc(z / math.sqrt(2))
    return MannWhitney(u=u1, p_value=min(1.0, p), exact=False)


def _rank_with_ties(values: Sequence[float]) -> tuple[list[float], float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    tie_term = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        t = j - i + 1
        tie_term += t**3 - t
        i = j + 1
    return ranks, tie_term


def _exact_u_sf(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under H0, by counting rank arrangements (dynamic programming)."""
    # counts[i][j][s]: arrangements of i from sample 1 and j from sample 2 with U = s
    max_u = n1 * n2
    prev = [[0] * (max_u + 1) for _ in range(n2 + 1)]
    for j in range(n2 + 1):
        prev[j][0] = 1
    for _i in range(1, n1 + 1):
        cur = [[0] * (max_u + 1) for _ in range(n2 + 1)]
        cur[0][0] = 1
        for j in range(1, n2 + 1):
            left = cur[j - 1]
            up = prev[j]
            row = cur[j]
            for s in range(max_u + 1):
                total = left[s]
                if s >= j:
                    total += up[s - j]
                row[s] = total
        prev = cur
    dist = prev[n2]
    total = sum(dist)
    return sum(dist[u:]) / total


@dataclass(frozen=True)
class Trend:
    """A least-squares trend with a significance test on the slope."""

    slope: float  # units per x unit
    intercept: float
    r_squared: float
    p_value: float
    direction: str  # "increasing", "decreasing" or "stable"


def linear_trend(xs: Sequence[float], ys: Sequence[float], *, alpha: float = 0.05,
                 min_relative_change: float = 0.0) -> Trend:
    """Fit y = a + b x and call it a trend only when b differs from 0 at level ``alpha``.

    ``min_relative_change`` also requires the fitted change across the window to be at
    least that fraction of the mean, so a significant but negligible drift stays "stable".
    """
    n = len(xs)
    if n != len(ys):
        raise ValueError("xs and ys differ in length")
    if n < 3:
        return Trend(0.0, ys[0] if ys else 0.0, 0.0, 1.0, "stable")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    if sxx == 0:
        return Trend(0.0, my, 0.0, 1.0, "stable")
    slope = sxy / sxx
    intercept = my - slope * mx
    if syy == 0:
        return Trend(0.0, my, 0.0, 1.0, "stable")
    r_squared = min(1.0, sxy * sxy / (sxx * syy))
    residual = max(syy - slope * sxy, 0.0)
    if residual == 0:
        p = 0.0
    else:
        se = math.sqrt(residual / (n - 2) / sxx)
        p = _t_two_sided_p(slope / se, n - 2)
    change = abs(slope) * (max(xs) - min(xs))
    big_enough = change >= min_relative_change * abs(my) if my else True
    direction = "stable"
    if p < alpha and big_enough and slope != 0:
        direction = "increasing" if slope > 0 else "decreasing"
    return Trend(slope, intercept, r_squared, p, direction)


def _t_two_sided_p(t: float, df: int) -> float:
    """Two-sided p-value of Student's t via the regularized incomplete beta function."""
    x = df / (df + t * t)
    return _betainc(df / 2, 0.5, x)


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b), continued fraction (Numerical Recipes)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    ln_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return math.exp(ln_front) * _beta_cf(a, b, x) / a
    return 1 - math.exp(ln_front) * _beta_cf(b, a, 1 - x) / b


def _beta_cf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 3e-14:
            break
    return h

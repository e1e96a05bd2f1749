"""The verdict's tests, the trial ledger and their wiring into phase=best (no sweep needed)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
import pytest

from crypto_tune.ledger import aggregate_bars, summarise_ledger
from crypto_tune.phases._best_choice import Choice
from crypto_tune.phases._best_robustness import _robustness
from crypto_tune.robustness import (
    TESTS,
    VERDICT_RULE,
    judge_test,
    rule_passes,
    stability_ratio,
    verdict,
)


def _tests(**passed: bool | None) -> dict[str, dict[str, Any]]:
    return {
        name: {"value": None if ok is None else 0.5, "threshold": 0.5, "passed": ok}
        for name, ok in passed.items()
    }


def test_judge_test_follows_each_direction_and_marks_missing_values() -> None:
    assert judge_test("dsr", 0.96)["passed"] is True
    assert judge_test("dsr", 0.94)["passed"] is False
    assert judge_test("pbo", 0.5)["passed"] is False and judge_test("pbo", 0.49)["passed"]
    assert judge_test("spa", 0.05)["passed"] is True and not judge_test("spa", 0.051)["passed"]
    assert judge_test("min_btl", 2.0, threshold=3.0) == {
        "value": 2.0,
        "threshold": 3.0,
        "passed": True,
    }
    assert judge_test("dsr", None) == {"value": None, "threshold": 0.95, "passed": None}
    assert judge_test("dsr", math.nan) == {"value": None, "threshold": 0.95, "passed": False}


def test_rule_needs_every_test_but_an_unavailable_optional_one() -> None:
    assert rule_passes(_tests(dsr=True, pbo=True), ("dsr", "pbo"))
    assert not rule_passes(_tests(dsr=True, pbo=False), ("dsr", "pbo"))
    assert rule_passes(_tests(dsr=True, pbo=None), ("dsr", "pbo"))  # PBO undefined: no block
    assert not rule_passes(_tests(dsr=None, pbo=True), ("dsr", "pbo"))  # DSR missing blocks
    assert not rule_passes(_tests(pbo=True), ("spa",))
    assert set(VERDICT_RULE) <= set(TESTS)


def test_verdict_says_what_to_do_and_keeps_its_prefixes() -> None:
    yes = _tests(**dict.fromkeys(TESTS, True))
    text, significant = verdict(n_trials=200, tests=yes, n_effective=7, oos_sharpe=1.234)
    assert significant and text.startswith("edge significant after 200 trials (7 effective)")
    assert "survives 7 effective trials" in text and text.endswith("out-of-sample Sharpe 1.23")
    no = _tests(**dict.fromkeys(TESTS, False))
    text, significant = verdict(n_trials=200, tests=no, n_effective=7)
    assert not significant and text.startswith("edge not significant after 200 trials")
    assert "no evidence of an edge: do not trade this" in text
    label = TESTS[VERDICT_RULE[0]].label
    assert label in text  # the failing test is named
    text, significant = verdict(n_trials=5, tests=yes, in_sample_trades=0)
    assert not significant and text.startswith("no edge to judge after 5 trials")


def test_aggregate_bars_compounds_groups() -> None:
    r = np.array([[0.1], [0.1], [-0.5], [0.2], [0.3]])
    days = aggregate_bars(r, 2)
    assert days.shape == (3, 1)
    assert days[:, 0] == pytest.approx([1.1 * 1.1 - 1, 0.5 * 1.2 - 1, 0.3])
    assert aggregate_bars(r, 1) is not None and aggregate_bars(r, 1).shape == (5, 1)


def test_ledger_drops_flat_and_infeasible_trials_and_counts_clusters() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.01, size=(400, 3))
    twins = base[:, [0]] + rng.normal(0, 0.001, size=(400, 4))  # near-duplicates of column 0
    flat = np.zeros((400, 1))
    ruined = rng.normal(0, 0.01, size=(400, 1))
    matrix = np.hstack([base, twins, flat, ruined])
    feasible = [True] * 8 + [False]
    ledger = summarise_ledger(matrix, feasible, n_trials=9, bars_per_day=6, reps=200)
    assert (ledger.n_flat, ledger.n_infeasible, ledger.n_kept) == (1, 1, 7)
    assert ledger.n_effective == 3  # column 0 and its four twins are one strategy
    assert ledger.cluster_sharpe_variance > 0 and ledger.trial_sharpe_variance > 0
    assert ledger.spa["bars_per_row"] == 1 and 0 <= ledger.spa["consistent"] <= 1
    long = summarise_ledger(
        np.vstack([matrix] * 3), feasible, n_trials=9, bars_per_day=6, max_spa_rows=500, reps=100
    )
    assert long.spa["bars_per_row"] == 6  # 1,200 bars compounded to days
    data = ledger.as_dict()
    assert data["n_kept"] == 7 and len(data["sharpes"]) == 7


def test_stability_ratio() -> None:
    assert stability_ratio(0.05, 0.1) == pytest.approx(0.5)
    assert math.isnan(stability_ratio(0.05, -0.1))


# ------------------------------------------------------------------------ wiring
class _Evaluator:
    """Stands in for phase=best's Evaluator: returns drawn from the trial's parameter."""

    ppy = 2190.0
    bar_hours = 4.0

    def __init__(self, edge: float) -> None:
        self.edge = edge

    def strategy(self, params: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(max_drawdown=0.5)

    def fold_returns(self, params: dict[str, Any]) -> tuple[list[np.ndarray], list[int]]:
        x = float(params.get("entry", 1.5))
        rng = np.random.default_rng(int(x * 1000))
        r = rng.normal(self.edge * (x == 1.5), 0.01, size=900)
        return [r[:450], r[450:]], [40, 40]

    def score(self, params: dict[str, Any]) -> float:
        r = np.concatenate(self.fold_returns(params)[0])
        return float(r.mean() / r.std())

    sharpe_per_period = score


def _study() -> optuna.Study:
    from optuna.distributions import FloatDistribution

    study = optuna.create_study(direction="maximize")
    for x in np.linspace(1.0, 2.5, 25):
        study.add_trial(
            optuna.trial.create_trial(
                params={"strategy.entry": float(x)},
                distributions={"strategy.entry": FloatDistribution(0.5, 3.0)},
                value=float(x == 1.5),
            )
        )
    study.add_trial(
        optuna.trial.create_trial(
            params={"strategy.entry": 1.5},
            distributions={"strategy.entry": FloatDistribution(0.5, 3.0)},
            value=2.0,
        )
    )
    return study


def _choice(study: optuna.Study | None, replay: dict | None = None) -> Choice:
    return Choice(
        model=None,  # type: ignore[arg-type]
        model_source="",
        strategy=None,  # type: ignore[arg-type]
        strategy_source="",
        tuned={"entry": 1.5},
        overrides={},
        model_overrides={},
        replay=replay,
        study=study,
    )


@pytest.mark.parametrize("edge", [0.0, 0.004])
def test_robustness_records_every_test_and_replays_without_the_study(edge: float) -> None:
    settings = SimpleNamespace(seed=0, best=SimpleNamespace(top_k=8))
    evaluator = _Evaluator(edge)
    chosen = np.concatenate(evaluator.fold_returns({"entry": 1.5})[0])
    args = (chosen, {"n_trades": 80}, {"sharpe": 0.3})
    found = _robustness(settings, _choice(_study()), evaluator, *args)  # type: ignore[arg-type]
    assert set(found) >= {"n_trials", "psr", "dsr", "pbo", "verdict", "significant", "inputs"}
    assert set(found["tests"]) == set(TESTS)
    for test in found["tests"].values():
        assert set(test) == {"value", "threshold", "passed"}
    assert found["n_trials"] == 26 and found["inputs"]["ledger"]["n_recomputed"] == 26
    assert found["n_effective"] < 26  # the chosen trial's duplicate is one strategy with it
    assert found["tests"]["min_btl"]["threshold"] == pytest.approx(900 / 2190)
    assert found["significant"] == rule_passes(found["tests"])
    assert found["significant"] == ("edge significant" in found["verdict"])
    assert found["significant"] is (edge > 0)
    assert found["neighbourhood"] is not None

    replay = {"robustness": {"inputs": found["inputs"]}}
    again = _robustness(settings, _choice(None, replay), evaluator, *args)  # type: ignore[arg-type]
    assert again["tests"] == found["tests"] and again["verdict"] == found["verdict"]


def test_replay_of_a_file_made_before_the_ledger_still_judges() -> None:
    settings = SimpleNamespace(seed=0, best=SimpleNamespace(top_k=8))
    evaluator = _Evaluator(0.004)
    chosen = np.concatenate(evaluator.fold_returns({"entry": 1.5})[0])
    old = {"n_trials": 26, "trial_sharpe_variance": 1e-4, "pbo_configs": []}
    found = _robustness(
        settings,  # type: ignore[arg-type]
        _choice(None, {"robustness": {"inputs": old}}),
        evaluator,  # type: ignore[arg-type]
        chosen,
        {"n_trades": 80},
        {"sharpe": 0.3},
    )
    assert found["n_effective"] is None and found["tests"]["dsr"]["value"] is not None
    assert found["tests"]["haircut_bhy"]["passed"] is None  # no ledger recorded: not available
    assert found["significant"] is rule_passes(found["tests"])


# ------------------------------------------------------------------- the haircut's family
def test_chosen_trial_is_found_by_its_number_not_by_a_rounded_sharpe() -> None:
    """Regression: the ledger rounds Sharpes to 8 decimals and the chosen trial used to be
    looked up by value (rel_tol 1e-9): a per-bar Sharpe like 0.0712345678912 never matched, so
    the chosen trial stayed in its own family and halved the BHY p-value."""
    from crypto_tune.phases._best_family import others_in_family

    chosen = 0.0712345678912
    ledger = {
        "sharpes": [round(s, 8) for s in (0.01, -0.02, chosen, 0.003)],
        "ids": ["strategy#0", "strategy#1", "strategy#7", "model#2"],
        "near_copy": [False, False, True, False],
    }
    others = others_in_family(ledger, "strategy#7", periods_per_year=1.0)
    assert others == [0.01, -0.02, 0.003]
    # a manual override is not any trial: every kept trial but its near-copies counts
    ledger["near_copy"] = [False, False, False, False]
    assert len(others_in_family(ledger, None, periods_per_year=1.0)) == 4
    assert len(others_in_family(ledger, "strategy#7", periods_per_year=1.0)) == 3


def test_robustness_counts_the_chosen_trial_and_its_copies_once() -> None:
    settings = SimpleNamespace(seed=0, best=SimpleNamespace(top_k=8))
    evaluator = _Evaluator(0.004)
    chosen = np.concatenate(evaluator.fold_returns({"entry": 1.5})[0])
    choice = _choice(_study())
    choice.trial_number = 25  # entry 1.5; trial 8 has entry 1.5 too: the same returns
    found = _robustness(  # type: ignore[arg-type]
        settings, choice, evaluator, chosen, {"n_trades": 80}, {"sharpe": 0.3}
    )
    ledger = found["inputs"]["ledger"]
    assert found["inputs"]["chosen"] == "strategy#25"
    assert sum(ledger["near_copy"]) == 2  # trials 8 and 25
    assert found["family"]["tests"] == ledger["n_kept"] - 2 + 1
    assert found["family"]["strategy_trials"] == 26 and found["family"]["holdout_looks"] == 1


def test_one_sided_family_is_not_made_lenient_by_losing_trials() -> None:
    """Two-sided p-values count strongly losing trials as discoveries, which makes BHY generous
    (the issue's case: Sharpe 2.3 over 2.1 years, BHY p 1.0 among 99 zero-edge others, 0.014
    among 99 losers). One-sided, losers can only make the adjustment stricter."""
    from crypto_tune.metrics import haircut_sharpe_ratio

    rng = np.random.default_rng(3)
    n, ppy = 4600, 2190.0
    zero = rng.normal(0.0, 0.7, size=99)
    losers = rng.normal(-2.5, 0.1, size=99)

    def bhy(others: np.ndarray, alternative: str) -> float:
        found = haircut_sharpe_ratio(
            2.3, n, periods_per_year=ppy, other_sharpes=others, alternative=alternative
        )
        return found.bhy.p_value

    assert bhy(losers, "two-sided") < bhy(zero, "two-sided")  # the flaw
    assert bhy(losers, "greater") >= bhy(zero, "greater")
    assert bhy(losers, "greater") > 0.05
    with pytest.raises(Exception, match="alternative"):
        haircut_sharpe_ratio(2.3, n, periods_per_year=ppy, n_tests=5, alternative="less")


def test_pbo_judges_only_trials_that_could_have_been_chosen() -> None:
    from crypto_tune.phases._best_robustness import _tradable

    study = _study()
    assert [t.number for t in _tradable(study, {3, 5, 25})] == [3, 5, 25]
    assert len(_tradable(study, set())) == 26  # nothing kept: the whole study


def test_verdict_warns_when_the_holdout_disagrees_and_counts_the_looks() -> None:
    """Issue 22.2: the demo said "edge significant ... trade it small" beside a holdout Sharpe of
    0.28 against 2.72 in sample. The warning is symmetrical to the one for a holdout that looks
    better than the evidence; repeated looks make the holdout no longer out of sample."""
    yes = _tests(**dict.fromkeys(TESTS, True))
    text, significant = verdict(
        n_trials=500, tests=yes, n_effective=9, oos_sharpe=0.28, is_sharpe=2.72, model_trials=12
    )
    assert significant and text.startswith("edge significant after 12 model + 500 strategy")
    assert "but the holdout disagrees (Sharpe 0.28 against 2.72 in sample): do not trade it" in text
    assert "trade it small" not in text
    agrees, _ = verdict(n_trials=500, tests=yes, oos_sharpe=1.9, is_sharpe=2.72)
    assert "but the holdout disagrees" not in agrees and "trade it small" in agrees
    losing, _ = verdict(n_trials=500, tests=yes, oos_sharpe=-0.1)
    assert "holdout disagrees (Sharpe -0.10)" in losing
    looked, _ = verdict(n_trials=500, tests=yes, oos_sharpe=1.9, is_sharpe=2.0, holdout_looks=4)
    assert "holdout looked at 4 times" in looked and "out-of-sample Sharpe" not in looked


def test_pbo_configurations_span_the_better_half_of_the_ranking() -> None:
    """The worse half of a search loses for structural reasons in every split: PBO over it reads
    low on markets without edge (issue 19), so the configurations span best to median."""
    from optuna.distributions import FloatDistribution

    from crypto_tune.phases._best_choice import _pbo_configs

    study = optuna.create_study(direction="maximize")
    for value in range(40):
        study.add_trial(
            optuna.trial.create_trial(
                params={"strategy.entry": float(value)},
                distributions={"strategy.entry": FloatDistribution(0.0, 100.0)},
                value=float(value),
            )
        )
    configs = _pbo_configs(study, study.trials, 8)
    entries = [c["entry"] for c in configs]
    assert len(entries) == 8 and max(entries) == 39.0 and min(entries) >= 20.0
    few = _pbo_configs(study, study.trials[:10], 8)  # fewer than 2k trials: no half to drop
    assert len(few) == 8


def test_pbo_picks_spread_over_the_better_half_best_included() -> None:
    from crypto_tune.robustness import pbo_picks

    assert pbo_picks(0, 16) == [] and pbo_picks(1, 16) == [0]
    assert pbo_picks(10, 16) == list(range(10))  # fewer trials than k: all of them
    picks = pbo_picks(500, 16)
    assert len(picks) == 16 and picks[0] == 0 and picks[-1] == 249  # never the worse half

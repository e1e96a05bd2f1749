#!/usr/bin/env bash
# The whole pipeline on the embedded synthetic market: offline, SQLite studies, local MLflow store.
# Usage: scripts/demo.sh [OUTPUT_DIR]   (default outputs/demo; cleared first so the demo starts fresh)
set -euo pipefail
out=${1:-outputs/demo}
ct=${CRYPTO_TUNE:-.venv/bin/crypto-tune}
rm -rf "$out"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/5 data health and folds"
$ct phase=inspect paths.outputs="$out"
step "2/5 Phase 1: LightGBM on IC (12 trials)"
$ct -m phase=model paths.outputs="$out" hydra.sweeper.n_trials=12
step "3/5 Phase 2: strategy rule on the probabilistic Sharpe ratio over cached predictions (500 trials)"
$ct -m phase=strategy paths.outputs="$out" hydra.sweeper.n_trials=500
step "4/5 best run: in-sample vs out-of-sample, overfitting statistics, verdict"
$ct phase=best paths.outputs="$out"
step "5/5 HTML report"
$ct phase=report paths.outputs="$out"
step "done: studies in $out/optuna.db, MLflow store in $out/mlflow.db (make ui OUT=$out)"

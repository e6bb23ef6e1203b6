#!/usr/bin/env bash
# `make schedule-demo`: a real Apache Airflow (its own virtualenv, a SQLite
# metadata database in a fresh AIRFLOW_HOME) backfills three yearly spans of
# the bundled data with scripts/schedule/airflow_local_dag.py on the
# DirectRunner: 1981 is blocked (drift of 'married'), 1982 and 1983 pass.
# Then it clears and re-runs span 1982, prints one line per DAG run with the
# states Airflow recorded, and the warehouse's validate runs per span.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
AIRFLOW=$REPO/.venv-airflow/bin/airflow
# The executor starts each task as `airflow tasks run ...` from PATH.
export PATH=$REPO/.venv-airflow/bin:$PATH
WORK=${DV_SCHEDULE_DEMO_DIR:-$REPO/artifacts/schedule-demo}
DAG=dv_validate_nlsy_local

rm -rf "$WORK" && mkdir -p "$WORK"
export AIRFLOW_HOME=$WORK/airflow
export AIRFLOW__CORE__DAGS_FOLDER=$REPO/scripts/schedule
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=SequentialExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$AIRFLOW_HOME/airflow.db
export DV_REPO=$REPO DV_PYTHON=${DV_PYTHON:-$REPO/.venv/bin/python}
export DV_STORE_ROOT=$WORK/store DV_SINK_PATH=$WORK/store/warehouse.duckdb

echo "baseline: statistics of 1980 and schema v1 in $DV_STORE_ROOT"
LOG=$WORK/airflow.log
(cd "$REPO" && "$DV_PYTHON" -m beam_jobs.stats dataset=nlsy_wages span=1980 \
    "store.root=$DV_STORE_ROOT" "sink.path=$DV_SINK_PATH" &&
  "$DV_PYTHON" -m beam_jobs.infer_schema dataset=nlsy_wages \
    "store.root=$DV_STORE_ROOT" "sink.path=$DV_SINK_PATH") >>"$LOG" 2>&1 ||
  { tail -20 "$LOG"; exit 1; }

echo "airflow: metadata database in $AIRFLOW_HOME (log: $LOG)"
"$AIRFLOW" db migrate >>"$LOG" 2>&1
# A blocked span fails its gate: the backfill goes on with the next span,
# and ends reporting failure (BackfillUnfinished), which is expected here.
echo "airflow dags backfill --continue-on-failures -s 1981-01-01 -e 1983-01-01 $DAG"
"$AIRFLOW" dags backfill --continue-on-failures -s 1981-01-01 -e 1983-01-01 \
    "$DAG" >>"$LOG" 2>&1 || true
echo "airflow tasks clear -s 1982-01-01 -e 1982-01-01, then backfill span 1982 again"
"$AIRFLOW" tasks clear -y -s 1982-01-01 -e 1982-01-01 "$DAG" >>"$LOG" 2>&1
"$AIRFLOW" dags backfill -s 1982-01-01 -e 1982-01-01 "$DAG" >>"$LOG" 2>&1

"$REPO/.venv-airflow/bin/python" "$REPO/scripts/airflow/states.py" "$DAG"
"$DV_PYTHON" - "$DV_SINK_PATH" <<'PY'
import sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
for span, runs, status in con.execute(
    "SELECT span, count(*), string_agg(status, ',') FROM runs "
    "WHERE job = 'validate' GROUP BY span ORDER BY span").fetchall():
  print(f'warehouse span={span}: {runs} validate run row(s), status={status}')
PY

#!/usr/bin/env bash
# `make demo`: the full flow on the bundled demo data (data/README.md).
#   1. stats for the training spans 1980-1986 (one Hydra multirun)
#   2. schema v1 inferred from the 1980 statistics
#   3. validate 1987 against v1 and the previous span: real drift, exit code 3
#   4. the static site over the store (index, timeline, feature pages)
# Results land in ./artifacts (statistics, schemas, the HTML report, the
# site under ./artifacts/site) and
# ./artifacts/warehouse.duckdb.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
rm -rf artifacts

echo "== 1. statistics for the training spans 1980-1986"
$PY -m beam_jobs.stats -m dataset=nlsy_wages split=train \
    span=1980,1981,1982,1983,1984,1985,1986 2>&1 | grep -v basic_launcher

echo
echo "== 2. schema v1 from the 1980 statistics"
$PY -m beam_jobs.infer_schema dataset=nlsy_wages split=train span=1980 \
    schema.note="demo: inferred from 1980"

echo
echo "== 3. validate span 1987 (drift against 1986, history, representation by ethnic group)"
set +e
$PY -m beam_jobs.validate dataset=nlsy_wages split=train span=1987 \
    'fairness.sensitive=[ethn]'
code=$?
set -e
echo "validate exit code: ${code} (0 = clean, 3 = blocking anomalies, 1 = failed)"
if [ "${code}" != 0 ] && [ "${code}" != 3 ]; then
  exit "${code}"
fi

echo
echo "== The warehouse: artifacts/warehouse.duckdb"
$PY - <<'PY'
import duckdb
con = duckdb.connect('artifacts/warehouse.duckdb', read_only=True)
print('Mean experience and log wage by year (feature_stats):')
print(con.sql("""
  SELECT span, feature, round(mean, 3) AS mean, round(missing_rate, 3) AS missing_rate
  FROM feature_stats
  WHERE dataset = 'nlsy_wages' AND slice = '' AND feature IN ('exper', 'wage')
  ORDER BY feature, span"""))
print('Drift of span 1987 against 1986 (drift_skew), largest first:')
print(con.sql("""
  SELECT slice, feature, metric, round(value, 3) AS value, threshold, is_anomaly
  FROM drift_skew WHERE span = '1987' AND "check" = 'drift'
  ORDER BY value DESC LIMIT 8"""))
print('Which kind of shift, 1987 against 1986 (anomalies, check=shift):')
for kind, text in con.execute("""
    SELECT anomaly_type, description FROM anomalies
    WHERE span = '1987' AND "check" = 'shift' AND feature = ''""").fetchall():
  print(f'  {kind}: {text[:240]}')
print('Representation and wage parity by ethnic group, 1987:')
print(con.sql("""
  SELECT "check", slice AS "group", metric, round(value, 3) AS value, threshold, is_anomaly
  FROM drift_skew WHERE span = '1987' AND "check" IN ('representation', 'label_parity')
  ORDER BY "check", slice, metric"""))
PY

echo
echo "== 4. the site over the store: every span, every feature over time"
$PY -m beam_jobs.site dataset=nlsy_wages

echo
echo "== The report of the 1987 validation (open it in a browser):"
echo "   $(pwd)/artifacts/nlsy_wages/split=train/span=1987/report.html"
echo "== The site (index of datasets, timelines, feature pages):"
echo "   $(pwd)/artifacts/site/index.html"

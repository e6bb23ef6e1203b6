#!/usr/bin/env bash
# `make demo`: the stats job on the bundled demo data (data/README.md), one
# span per year, run as a Hydra multirun in one process.
# Results land in ./artifacts (statistics) and ./artifacts/warehouse.duckdb.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
spans=$(ls data/nlsy_wages | sed -n 's/^span=//p' | sort | paste -sd, -)

$PY -m beam_jobs.stats -m dataset=nlsy_wages split=train "span=${spans}"

echo
echo "Statistics: artifacts/nlsy_wages/split=train/span=*/stats.pb"
echo "Warehouse:  artifacts/warehouse.duckdb. Experience and wage by year:"
$PY - <<'PY'
import duckdb
con = duckdb.connect('artifacts/warehouse.duckdb', read_only=True)
print(con.sql("""
  SELECT span, feature, round(mean, 3) AS mean, round(std_dev, 3) AS std_dev,
         round(missing_rate, 3) AS missing_rate
  FROM feature_stats
  WHERE dataset = 'nlsy_wages' AND slice = '' AND feature IN ('exper', 'wage')
  ORDER BY feature, span"""))
PY

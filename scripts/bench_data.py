"""Seeded, vectorized generators of the benchmark's Parquet files.

Every generator writes row group by row group (so it stays small), into a
temporary name that is renamed into place at the end: an interrupted run
never leaves a half-written file that a later run would take as cached.

  mixed      N x 19: 8 float (2% nulls), 4 int, 6 categorical c0..c5 with 50
             Zipf-distributed values (cat_00..cat_49), 1 binary label
  events     N x 7 event log: event_id (unique), session_id (N/5 sessions),
             user_agent (long tail), duration_ms, price, quantity,
             event_type (8 values), country (50 values)
  unique_id  N x 2: id (unique string), value (float)
  wide       N x 500: 250 float, 150 int, 100 categorical with 20 values each
"""

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

_HEX = np.frombuffer(b'0123456789abcdef', np.uint8)


def _write(path: str, chunks) -> None:
  """Writes the tables yielded by ``chunks`` as row groups of ``path``."""
  tmp = f'{path}.tmp-{os.getpid()}'
  writer = None
  try:
    for table in chunks:
      if writer is None:
        writer = pq.ParquetWriter(tmp, table.schema)
      writer.write_table(table, row_group_size=table.num_rows)
  finally:
    if writer is not None:
      writer.close()
  os.replace(tmp, path)


def _chunks(rows: int, chunk: int):
  done = 0
  while done < rows:
    n = min(chunk, rows - done)
    yield done, n
    done += n


def _mix64(x: np.ndarray) -> np.ndarray:
  """A bijection of uint64 (odd multiplier, xorshift): distinct in, distinct
  out, and the output looks random."""
  with np.errstate(over='ignore'):
    y = x.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
  return y ^ (y >> np.uint64(29))


def hex_ids(prefix: str, values: np.ndarray, width: int = 16) -> pa.Array:
  """``prefix`` + the low ``width`` hex digits of each uint64, as an Arrow
  string array built straight from its buffers (no Python strings)."""
  n = len(values)
  shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
  digits = (values.astype(np.uint64)[:, None] >> shifts) & np.uint64(0xF)
  head = np.frombuffer(prefix.encode(), np.uint8)
  chars = np.empty((n, len(head) + width), np.uint8)
  chars[:, :len(head)] = head
  chars[:, len(head):] = _HEX[digits]
  size = chars.shape[1]
  offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)
  return pa.Array.from_buffers(pa.string(), n, [
      None, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())])


def generate_mixed(path: str, rows: int, seed: int = 0) -> None:
  """The original 19-column table (unchanged, so cached files stay valid)."""
  rng = np.random.default_rng(seed)
  vocab = np.array([f'cat_{i:02d}' for i in range(50)])

  def chunks():
    for _, n in _chunks(rows, 500_000):
      cols = {}
      for i in range(8):
        # 2% missing, stored as Parquet nulls.
        cols[f'f{i}'] = pa.array(rng.normal(i * 10, 1 + i, n),
                                 mask=rng.random(n) < 0.02)
      for i in range(4):
        cols[f'i{i}'] = rng.integers(0, 10 ** (i + 2), n)
      for i in range(6):
        cols[f'c{i}'] = vocab[rng.zipf(1.3 + i * 0.1, n) % 50]
      cols['label'] = (rng.random(n) < 0.3).astype(np.int64)
      yield pa.table(cols)
  _write(path, chunks())


# Categories of the event log, with distinct (so rank-ordered) shares.
EVENT_TYPES = ['page_view', 'click', 'scroll', 'add_to_cart', 'search',
               'login', 'purchase', 'logout']
COUNTRIES = ['US', 'DE', 'GB', 'FR', 'IN', 'BR', 'JP', 'CA', 'IT', 'ES',
             'NL', 'MX', 'AU', 'PL', 'SE', 'KR', 'TR', 'AR', 'BE', 'CH',
             'AT', 'ID', 'NO', 'DK', 'FI', 'IE', 'PT', 'CZ', 'RO', 'HU',
             'GR', 'ZA', 'CL', 'CO', 'PH', 'VN', 'TH', 'MY', 'SG', 'NZ',
             'IL', 'UA', 'EG', 'NG', 'PK', 'PE', 'SK', 'BG', 'HR', 'RS']
# Distinct user-agent strings the long tail is drawn from.
USER_AGENTS = 200_000
_BROWSERS = ['Chrome', 'Firefox', 'Safari', 'Edg', 'OPR', 'SamsungBrowser']
_SYSTEMS = ['Windows NT 10.0; Win64; x64', 'Macintosh; Intel Mac OS X 10_15_7',
            'X11; Linux x86_64', 'iPhone; CPU iPhone OS 17_4 like Mac OS X',
            'Linux; Android 14; Pixel 8', 'iPad; CPU OS 16_6 like Mac OS X',
            'Linux; Android 13; SM-S918B']


def _user_agents() -> pa.Array:
  """USER_AGENTS distinct strings, the most common first."""
  return pa.array([
      f'Mozilla/5.0 ({_SYSTEMS[r % 7]}) AppleWebKit/537.36 (KHTML, like '
      f'Gecko) {_BROWSERS[(r // 7) % 6]}/{90 + r % 37}.0.{r}.{r % 97} '
      f'Safari/537.36' for r in range(USER_AGENTS)])


def generate_events(path: str, rows: int, seed: int = 1) -> None:
  """An event log: one unique id per row, ids with ~5 rows each, a long-tail
  string, three numbers and two categories."""
  rng = np.random.default_rng(seed)
  sessions = max(1, rows // 5)  # 400k sessions for 2M rows
  agents = _user_agents()
  types = pa.array(EVENT_TYPES)
  type_p = np.array([40, 20, 15, 8, 7, 5, 3, 2], float)
  countries = pa.array(COUNTRIES)
  country_p = 1 / np.arange(1, 51) ** 1.1

  def chunks():
    for start, n in _chunks(rows, 500_000):
      index = np.arange(start + 1, start + n + 1, dtype=np.uint64)
      kind = rng.choice(len(EVENT_TYPES), n, p=type_p / type_p.sum())
      purchase = kind == EVENT_TYPES.index('purchase')
      yield pa.table({
          'event_id': hex_ids('evt-', _mix64(index)),
          'session_id': hex_ids('ses-', _mix64(
              rng.integers(1, sessions + 1, n, dtype=np.uint64))),
          # Zipf ranks wrapped onto the vocabulary: a few agents carry most
          # rows, tens of thousands appear a handful of times.
          'user_agent': agents.take(pa.array(
              (rng.zipf(1.3, n) - 1) % USER_AGENTS)),
          'duration_ms': pa.array(rng.lognormal(6, 1.5, n),
                                  mask=rng.random(n) < 0.01),
          # Only purchases have a price.
          'price': pa.array(np.round(rng.exponential(40, n), 2),
                            mask=~purchase),
          'quantity': rng.integers(1, 11, n),
          'event_type': types.take(pa.array(kind)),
          'country': countries.take(pa.array(
              rng.choice(50, n, p=country_p / country_p.sum()))),
      })
  _write(path, chunks())


def generate_unique_id(path: str, rows: int, seed: int = 2) -> None:
  """One unique string id per row and one number."""
  rng = np.random.default_rng(seed)

  def chunks():
    for start, n in _chunks(rows, 500_000):
      index = np.arange(start + 1, start + n + 1, dtype=np.uint64)
      yield pa.table({'id': hex_ids('id-', _mix64(index)),
                      'value': rng.normal(100, 15, n)})
  _write(path, chunks())


WIDE_FLOATS, WIDE_INTS, WIDE_CATEGORIES, WIDE_VALUES = 250, 150, 100, 20


def generate_wide(path: str, rows: int, seed: int = 3) -> None:
  """500 columns: 250 float, 150 int, 100 categorical with 20 values each;
  row groups of 100k rows (one default stats batch)."""
  rng = np.random.default_rng(seed)
  vocabs = [pa.array([f'c{j:03d}_v{k:02d}' for k in range(WIDE_VALUES)])
            for j in range(WIDE_CATEGORIES)]

  def chunks():
    for _, n in _chunks(rows, 100_000):
      cols = {}
      for j in range(WIDE_FLOATS):
        cols[f'f{j:03d}'] = rng.normal(j, 1 + j % 10, n)
      for j in range(WIDE_INTS):
        cols[f'i{j:03d}'] = rng.integers(0, 10 ** (1 + j % 6), n)
      for j in range(WIDE_CATEGORIES):
        cols[f'c{j:03d}'] = vocabs[j].take(pa.array(
            (rng.zipf(1.5 + (j % 5) * 0.2, n) - 1) % WIDE_VALUES))
      yield pa.table(cols)
  _write(path, chunks())


WIDER_FLOATS, WIDER_STRINGS = 4000, 1000


def generate_wider(path: str, rows: int, seed: int = 4) -> None:
  """5,000 columns: 4,000 float, 1,000 text with 20-200 values each (issue
  23's wide case, the shape of TFDV users' ~5k-column OOM reports); row
  groups of 5,000 rows."""
  rng = np.random.default_rng(seed)
  vocabs = [pa.array([f's{j:04d}_v{k:03d}' for k in range(20 + j % 181)])
            for j in range(WIDER_STRINGS)]

  def chunks():
    for _, n in _chunks(rows, 5_000):
      cols = {}
      for j in range(WIDER_FLOATS):
        # 2% nulls (not NaN: DuckDB's SUMMARIZE fails on NaN)
        cols[f'f{j:04d}'] = pa.array(rng.normal(j % 100, 1 + j % 7, n),
                                     mask=rng.random(n) < 0.02)
      for j in range(WIDER_STRINGS):
        cols[f's{j:04d}'] = vocabs[j].take(pa.array(
            rng.integers(0, len(vocabs[j]), n)))
      yield pa.table(cols)
  _write(path, chunks())

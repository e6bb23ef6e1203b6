"""CSV dialect: the delimiter and quote character of a CSV file, from a sample.

``detect`` looks at the first rows of a file (``SAMPLE_BYTES`` of it, decoded)
and picks the delimiter among ``CANDIDATES`` that splits every row into the
same number of columns (more than one), and the quote character under which
that holds. Python's ``csv.Sniffer`` is asked first; its answer is kept when
the rows agree with it, otherwise every candidate is counted. A sample with
none of the candidates in it is one column (delimiter ``,``).

``misread_delimiter`` is the check made after reading: a table of one column
whose name and values hold another candidate delimiter was read with the wrong
one.

Pure functions over text: no file access here (see sources.resolve_csv_dialect).
"""

import codecs
import collections
import csv
import dataclasses
import io
from typing import List, Optional, Sequence, Tuple

# Delimiters tried, most likely first (ties go to the earlier one).
CANDIDATES = (',', ';', '\t', '|', ':')
# Candidates the one-column check looks for in values. ':' is left out: times
# and URLs hold it in perfectly good one-column files.
MISREAD_CANDIDATES = (',', ';', '\t', '|')
QUOTES = ('"', "'")
DEFAULT_DELIMITER = ','
DEFAULT_QUOTE = '"'
# Bytes of the first file looked at.
SAMPLE_BYTES = 64 << 10
# Rows of the sample looked at, at most.
_MAX_ROWS = 2000
# Characters of the sample csv.Sniffer looks at.
_SNIFF_CHARS = 8 << 10
_BOM = '\ufeff'


@dataclasses.dataclass(frozen=True)
class Dialect:
  delimiter: str
  quote_char: str  # '' when fields are not quoted
  columns: int  # columns of most sample rows (1: one column)
  rows: int  # sample rows looked at
  consistency: float = 1.0  # share of those rows with ``columns`` cells


def canonical_encoding(name: str) -> str:
  """Python's name for an encoding; LookupError for an unknown one."""
  return codecs.lookup(name).name


def is_utf8(name: str) -> bool:
  return canonical_encoding(name) in ('utf-8', 'utf-8-sig')


def decode_sample(raw: bytes, encoding: str, complete: bool) -> str:
  """The sample as text, without a byte order mark and a cut-off last line.

  ``complete``: ``raw`` is the whole file. Raises UnicodeDecodeError when the
  bytes are not valid in ``encoding`` (a character cut at the end of an
  incomplete sample is not an error).
  """
  decoder = codecs.getincrementaldecoder(encoding)()
  text = decoder.decode(raw, final=complete)
  if text.startswith(_BOM):
    text = text[1:]
  if not complete:
    cut = max(text.rfind('\n'), text.rfind('\r'))
    if cut >= 0:
      text = text[:cut + 1]
  return text


def _rows(text: str, delimiter: str, quote_char: str) -> List[List[str]]:
  if quote_char:
    reader = csv.reader(io.StringIO(text, newline=''), delimiter=delimiter,
                        quotechar=quote_char, doublequote=True, strict=False)
  else:
    reader = csv.reader(io.StringIO(text, newline=''), delimiter=delimiter,
                        quoting=csv.QUOTE_NONE, strict=False)
  out = []
  try:
    for row in reader:
      if not row or (len(row) == 1 and not row[0].strip()):
        continue  # blank lines are skipped by the reader too
      out.append(row)
      if len(out) >= _MAX_ROWS:
        break
  except csv.Error:
    pass  # e.g. a NUL byte: judge on the rows read so far
  return out


def _score(text: str, delimiter: str, quote_char: str,
           header: bool) -> Tuple[int, float, int]:
  """(columns of most rows, share of rows with that many, rows).

  With a header, the header row must have that many columns too (pyarrow
  sets aside every row whose cell count differs from the header's);
  otherwise columns is 0.
  """
  rows = _rows(text, delimiter, quote_char)
  if not rows:
    return 0, 0.0, 0
  counts = [len(r) for r in rows]
  columns, hits = collections.Counter(counts).most_common(1)[0]
  if header and len(rows) > 1 and counts[0] != columns:
    return 0, 0.0, len(rows)
  return columns, hits / len(rows), len(rows)


def _sniff(text: str, delimiters: Sequence[str]) -> Optional[Tuple[str, str]]:
  # The sniffer's quote search can take time quadratic in the text (seconds
  # on 64 KiB of unbalanced quotes): it gets the first lines only.
  head = text[:_SNIFF_CHARS]
  if len(text) > _SNIFF_CHARS and '\n' in head:
    head = head[:head.rfind('\n') + 1]
  try:
    found = csv.Sniffer().sniff(head, delimiters=''.join(delimiters))
  except csv.Error:
    return None
  if found.delimiter not in delimiters:
    return None
  return found.delimiter, found.quotechar or DEFAULT_QUOTE


def detect(text: str, delimiter: Optional[str] = None,
           quote_char: Optional[str] = None, header: bool = True,
           expected_columns: Optional[int] = None) -> Dialect:
  """The dialect of a decoded sample (see decode_sample).

  ``delimiter`` / ``quote_char``: given ones are kept, None ones detected.
  ``header``: the first row is a header. ``expected_columns``: the number of
  configured column names, preferred when some candidate gives it.
  """
  delimiters = ((delimiter,) if delimiter is not None else
                tuple(d for d in CANDIDATES if d in text))
  quotes = (quote_char,) if quote_char is not None else QUOTES
  fallback_quote = quote_char if quote_char is not None else DEFAULT_QUOTE
  if not text.strip() or not delimiters:
    # No candidate anywhere (or nothing at all): one column.
    rows = len(_rows(text, DEFAULT_DELIMITER, fallback_quote))
    return Dialect(delimiter or DEFAULT_DELIMITER, fallback_quote,
                   1 if rows else 0, rows)
  sniffed = _sniff(text, delimiters) if len(delimiters) > 1 or (
      quote_char is None) else None
  best, best_key = None, None
  for d in delimiters:
    for q in quotes:
      columns, consistency, rows = _score(text, d, q, header)
      if columns < 2:
        continue
      key = (
          expected_columns is not None and columns == expected_columns,
          # Shares within 5 points count as equally consistent: a few ragged
          # rows should not let a rarer character win.
          int(consistency * 20),
          sniffed is not None and sniffed[0] == d,
          sniffed is not None and sniffed[1] == q,
          consistency,
          -CANDIDATES.index(d) if d in CANDIDATES else 0,
          -QUOTES.index(q) if q in QUOTES else 0,
      )
      if best_key is None or key > best_key:
        best_key = key
        best = Dialect(d, q, columns, rows, consistency)
  if best is None:  # no candidate splits the rows: one column
    d = delimiter or DEFAULT_DELIMITER
    rows = len(_rows(text, d, fallback_quote))
    return Dialect(d, fallback_quote, 1, rows)
  return best


def misread_delimiter(name: str, values: Sequence[Optional[str]],
                      used: str, header: bool = True,
                      min_share: float = 0.5,
                      min_values: int = 3) -> Optional[str]:
  """The delimiter a one-column table was probably meant to be read with.

  ``name``: the column's name; ``values``: a sample of its values;
  ``used``: the delimiter it was read with. With a header, the name must hold
  the delimiter (a real one-column file rarely has one in its header) and at
  least ``min_share`` of the non-empty values too; without one, at least
  ``min_share`` of ``min_values`` or more non-empty values. None: looks right.
  """
  texts = [str(v) for v in values if v is not None and str(v).strip()]
  best, best_hits = None, 0
  for d in MISREAD_CANDIDATES:
    if d == used:
      continue  # quoted cells may hold the delimiter in use
    if header and d not in name:
      continue
    hits = sum(1 for v in texts if d in v)
    if texts and hits < min_share * len(texts):
      continue
    if not header and len(texts) < min_values:
      continue
    if best is None or hits > best_hits:
      best, best_hits = d, hits
  return best


def shown(delimiter: str) -> str:
  """A delimiter as it is written on the command line: '\\t' for a tab."""
  return "'\\t'" if delimiter == '\t' else repr(delimiter)

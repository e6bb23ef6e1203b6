"""The site job: a static site over the artifact store, across spans.

  python -m beam_jobs.site                        # every dataset in the store
  python -m beam_jobs.site dataset.name=mydata    # one dataset (and the index)

Writes ``{store.root}/site/index.html`` (every dataset and split), a
timeline page per dataset and a page per feature (and per slice of it)
across spans, linking to each span's report.html (report/site.py). Reads
the store only; re-reads only spans whose run changed since the last build
and writes only the pages whose text changed (``site.full=true``: all).
"""

import hydra
from omegaconf import DictConfig

from beam_jobs import _cli
from report import site
from settings import job as job_settings

JOB = 'site'


def run(cfg: DictConfig) -> int:
  """Builds the site; returns the exit code. Raises UserError on bad input."""
  settings = job_settings.parse(cfg, JOB)
  result = site.build(settings.site.spec)
  print(f'site: {result.datasets} dataset(s), {result.spans} span(s) '
        f'({result.spans_read} read from the store, {result.spans_reused} '
        f'unchanged), {result.pages_written} of {result.pages} pages written '
        f'({result.bytes_written / 1e6:.1f} MB, largest page '
        f'{result.largest_page / 1e3:.0f} kB) in {result.seconds:.1f} s\n'
        f'  site: {result.index_path}')
  return _cli.EXIT_OK


@hydra.main(config_path='pkg://conf', config_name='site', version_base='1.3')
def main(cfg: DictConfig) -> None:
  _cli.main(run, cfg, JOB)


if __name__ == '__main__':
  _cli.entry(main, JOB)

"""Both DAG files of scripts/schedule/ loaded by real Apache Airflow.

Airflow lives in its own virtualenv, .venv-airflow (`make test` and `make
schedule-demo` build it from scripts/airflow/requirements.lock, with the
Google provider the Composer DAG imports); each check runs there with a
throw-away AIRFLOW_HOME and SQLite metadata database. The scheduled run
itself (a backfill of three spans) is `make schedule-demo`.
"""

import json
import os
import subprocess

import pytest

from beam_jobs import flex_launcher
from conftest import REPO

PYTHON = os.path.join(REPO, '.venv-airflow', 'bin', 'python')
DAGS = os.path.join(REPO, 'scripts', 'schedule')

_LOAD = '''
import json, sys
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
out = {"errors": {path: text.strip().splitlines()[-1]
                  for path, text in bag.import_errors.items()},
       "dags": {}}
for dag_id, dag in bag.dags.items():
  out["dags"][dag_id] = {
      "file": dag.fileloc,
      "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids),
                            "retries": t.retries} for t in dag.tasks}}
composer = bag.dags.get("dv_validate_shop")
if composer is not None:
  launch = composer.get_task("validate").body["launchParameter"]
  out["parameters"] = sorted(launch["parameters"])
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def dagbag(tmp_path_factory):
  if not os.path.exists(PYTHON):
    pytest.fail('Apache Airflow is not installed: run `make test` (it '
                'builds .venv-airflow from scripts/airflow/requirements.lock)')
  home = tmp_path_factory.mktemp('airflow')
  env = {**os.environ, 'AIRFLOW_HOME': str(home),
         'AIRFLOW__CORE__LOAD_EXAMPLES': 'False',
         'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN': f'sqlite:///{home}/airflow.db'}
  env.pop('PYTHONPATH', None)  # Airflow's own stack, not the jobs'
  proc = subprocess.run([PYTHON, '-c', _LOAD, DAGS], capture_output=True,
                        text=True, env=env, timeout=300, cwd=str(home))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_both_dags_import_without_errors(dagbag):
  assert dagbag['errors'] == {}
  files = {dag_id: os.path.basename(d['file'])
           for dag_id, d in dagbag['dags'].items()}
  assert files == {'dv_validate_shop': 'airflow_dag.py',
                   'dv_validate_nlsy_local': 'airflow_local_dag.py'}


def test_the_gate_never_retries_and_guards_what_comes_after(dagbag):
  for dag in dagbag['dags'].values():
    tasks = dag['tasks']
    assert tasks['fail_on_blocking']['upstream'] == ['validate']
    assert tasks['fail_on_blocking']['retries'] == 0
    assert tasks['train_model']['upstream'] == ['fail_on_blocking']
    assert tasks['validate']['retries'] >= 1  # a failed run may be retried


def test_composer_dag_passes_only_declared_template_parameters(dagbag):
  """What the Composer DAG passes is declared in scripts/flex/metadata.json
  or is a Beam pipeline option the Flex launcher hands to Beam (Dataflow's
  own documented way to pass ``sdk_container_image``)."""
  with open(os.path.join(REPO, 'scripts', 'flex', 'metadata.json')) as f:
    declared = {p['name'] for p in json.load(f)['parameters']}
  passed = set(dagbag['parameters'])
  undeclared = passed - declared
  assert undeclared == {'sdk_container_image'}
  assert all(flex_launcher._beam_option(name) for name in undeclared)  # pylint: disable=protected-access
  assert {'job', 'dataset_name', 'dataset_path', 'span', 'store_root'
          } <= passed

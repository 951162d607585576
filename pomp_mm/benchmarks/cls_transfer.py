"""Run the classification transfer configs and tabulate them as the paper.

Two sub-commands:

``run`` tests one method on every dataset config of a folder (through
``tools/test.py``) and writes ``<metrics-dir>/<method>/<dataset>.json``::

    python tools/results_table.py run --method POMP \\
        --config-dir configs/cls/pomp --metrics-dir work_dirs/cls_results \\
        --data-root data --prompt checkpoints/POMP_PROMPT.pth.tar
    python tools/results_table.py run --method CLIP \\
        --config-dir configs/cls/clip --metrics-dir work_dirs/cls_results

``table`` reads those metric files (any ``tools/test.py --out`` JSON) and
writes ``<out>.md``, ``<out>.csv`` and a bar plot ``<out>.png``, one row per
method, one column per dataset, plus the paper's averages: the cross-dataset
mean over the 10 target datasets and the cross-domain mean over ImageNet-A,
-R, -Sketch and -V2 (a mean is left empty until all its datasets exist)::

    python tools/results_table.py table --metrics-dir work_dirs/cls_results \\
        --out docs/cls_results

Dataset names are the config file names (``configs/cls/*/<dataset>.py``).
A metric file may say a metric does not apply (``"n/a"`` or ``null``): the
cell reads ``n/a`` (and so does a mean over it), unlike an empty cell, which
is a run that is missing. Any other value that is not a finite number is an
error naming the file and the key: it would otherwise be a table that looks
complete.

``zoo`` renders the transfer-method zoo's results (the JSON ``tools/zoo.py``
writes) as markdown tables, one per protocol (base-to-novel, few-shot,
cross-dataset / domain generalisation, retrieval, WiSE-FT's alpha sweep),
and plots accuracy versus shots per method::

    python tools/results_table.py zoo --results work_dirs/zoo/results.json \
        --out work_dirs/zoo/results.md --plot docs/zoo_shots.png

The tables and plots are :mod:`pomp_mm.benchmarks.report`'s; this module
holds the ``run`` sub-command and the command line of
``tools/results_table.py`` (a thin CLI over :func:`main`).
"""
import argparse
import glob
import json
import os.path as osp
import sys
from collections.abc import Sequence

from pomp_mm.benchmarks.report import (ALL_DATASETS, TableError,
                                       build_rows, check_zoo_results,
                                       read_metrics, write_csv,
                                       write_markdown, write_plot,
                                       write_shots_plot, zoo_tables)
from pomp_mm.core.checkpoint import atomic_write_text
from pomp_mm.engine.test import main as test_main


# -- run ---------------------------------------------------------------------
def dataset_configs(
        config_dir: str,
        datasets: Sequence[str] | None = None) -> dict[str, str]:
    """``dataset -> config path`` for the configs of a method folder.

    Args:
        config_dir (str): A folder of ``<dataset>.py`` configs.
        datasets (Sequence[str], optional): Only these; each must exist.
            Defaults to None (every ``*.py`` of the folder, paper order
            first).

    Returns:
        dict[str, str]: Dataset name to config path, in table order.
    """
    if not osp.isdir(config_dir):
        raise TableError(f'--config-dir {config_dir}: not a directory')
    found = {
        osp.splitext(osp.basename(p))[0]: p
        for p in glob.glob(osp.join(config_dir, '*.py'))
    }
    if datasets:
        missing = [d for d in datasets if d not in found]
        if missing:
            raise TableError(
                f'--config-dir {config_dir}: no config '
                f'{missing[0]}.py (have: {", ".join(sorted(found))})')
        names = list(datasets)
    else:
        names = [d for d in ALL_DATASETS if d in found] + sorted(
            d for d in found if d not in ALL_DATASETS)
    if not names:
        raise TableError(f'--config-dir {config_dir}: no <dataset>.py '
                         'configs')
    return {name: found[name] for name in names}


def mapped_data_root(config: str, data_root: str) -> str:
    """``<data_root>/<folder>`` for a config whose data root ends in
    ``<folder>`` (CoOp's folder names: ``oxford_pets``, ``food-101``, ...).

    Args:
        config (str): A dataset config.
        data_root (str): The folder holding every dataset.

    Returns:
        str: The dataset's root under ``data_root``.
    """
    from pomp_mm.utils.cli import CliError, read_config
    try:
        cfg = read_config(config)  # a broken config: one line, not a trace
    except CliError as e:
        raise TableError(str(e)) from None
    try:
        own = cfg.test_dataloader.dataset.data_root
    except AttributeError:
        raise TableError(f'{config}: no test_dataloader.dataset.data_root '
                         'to map --data-root onto') from None
    return osp.join(data_root, osp.basename(osp.normpath(own)))


def run(args: argparse.Namespace) -> dict[str, dict]:
    """Test every dataset config of ``--config-dir``; write metric files.

    Returns:
        dict[str, dict]: dataset -> metrics of the runs that finished.
    """
    configs = dataset_configs(args.config_dir, args.datasets)
    out_dir = osp.join(args.metrics_dir, args.method)
    results, failed = {}, []
    for name, config in configs.items():
        out = osp.join(out_dir, f'{name}.json')
        # the prompt goes the way of tools/test.py PROMPT: into every
        # prompt learner of the built model
        argv = [config] + ([args.prompt] if args.prompt else []) + [
            '--out-metrics', out, '--work-dir',
            osp.join(args.work_dir, args.method, name)
        ]
        options = list(args.cfg_options or [])
        if args.data_root:
            options.append('test_dataloader.dataset.data_root=' +
                           mapped_data_root(config, args.data_root))
        if options:
            argv += ['--cfg-options', *options]
        print(f'[{args.method}] {name}: {config}', flush=True)
        try:
            results[name] = test_main(argv)
        except (Exception, SystemExit) as e:
            if not args.keep_going:
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ''
            failed.append(name)
            print(
                f'[{args.method}] {name} FAILED: {type(e).__name__}: '
                f'{msg}',
                flush=True)
    if failed:
        print(f'[{args.method}] failed: {", ".join(failed)}', flush=True)
    return results


# -- table and zoo -----------------------------------------------------------
def table(args: argparse.Namespace) -> str:
    """Write ``<out>.md``, ``<out>.csv`` and ``<out>.png``; return the md."""
    data = read_metrics(args.metrics_dir, args.metric, args.methods)
    header, rows = build_rows(data)
    text = write_markdown(args.out + '.md', header, rows, args.metric)
    write_csv(args.out + '.csv', header, rows)
    write_plot(args.out + '.png', header, rows, args.metric, args.title)
    print(text)
    return text


def zoo(args: argparse.Namespace) -> str:
    """Render ``tools/zoo.py``'s results JSON: markdown (+ shots plot)."""
    try:
        with open(args.results, encoding='utf-8') as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        raise TableError(f'--results {args.results}: cannot be read ({e})'
                         ) from None
    if not isinstance(results, dict) or 'methods' not in results:
        raise TableError(f'--results {args.results}: not a tools/zoo.py '
                         'results file (no "methods" key)')
    results = check_zoo_results(results, f'--results {args.results}')
    text = zoo_tables(results)
    if args.out:
        atomic_write_text(args.out, text)
    if args.plot:
        write_shots_plot(args.plot, results)
    print(text)
    return text


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    r = sub.add_parser('run', help='test a method on every dataset config')
    r.add_argument('--method',
                   required=True,
                   help='row name, e.g. POMP, CoOp, CLIP')
    r.add_argument('--config-dir',
                   default='configs/cls/pomp',
                   help='folder of <dataset>.py configs')
    r.add_argument('--datasets', nargs='+', help='only these datasets')
    r.add_argument('--prompt',
                   help='prompt file for PromptCLIPClassifier '
                   'configs (loaded as tools/test.py CONFIG PROMPT does)')
    r.add_argument('--data-root',
                   help='folder holding every dataset under its CoOp '
                   'folder name (oxford_pets, food-101, imagenet, ...)')
    r.add_argument('--metrics-dir', default='work_dirs/cls_results')
    r.add_argument('--work-dir', default='work_dirs/cls_runs')
    r.add_argument('--cfg-options',
                   nargs='+',
                   help='passed to tools/test.py for every config')
    r.add_argument('--keep-going',
                   action='store_true',
                   help='go on after a dataset fails')
    t = sub.add_parser('table', help='markdown + CSV + bar plot')
    t.add_argument('--metrics-dir', default='work_dirs/cls_results')
    t.add_argument('--methods', nargs='+', help='rows, in order')
    t.add_argument('--metric', default='accuracy/top1')
    t.add_argument('--title', default='Zero-shot transfer',
                   help='plot title, e.g. "CLIP ViT-B/16, top-1"')
    t.add_argument('--out',
                   default='work_dirs/cls_results/results',
                   help='output prefix (.md, .csv, .png are added)')
    z = sub.add_parser('zoo', help="tools/zoo.py's results: tables + "
                       'accuracy-vs-shots plot')
    z.add_argument('--results', default='work_dirs/zoo/results.json',
                   help='the results JSON tools/zoo.py wrote')
    z.add_argument('--out', help='write the markdown tables here')
    z.add_argument('--plot', help='write the accuracy-vs-shots plot here')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.command == 'zoo':
            return zoo(args)
        return run(args) if args.command == 'run' else table(args)
    except TableError as e:
        sys.exit(f'results_table.py: error: {e}')


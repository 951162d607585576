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
"""
import argparse
import csv
import glob
import importlib.util
import io
import json
import math
import os.path as osp
import sys
from collections.abc import Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from pomp_mm.core.checkpoint import atomic_write, atomic_write_text

#: The 10 cross-dataset targets, in the column order of the CoOp/POMP tables.
CROSS_DATASET = ('caltech101', 'oxford_pets', 'stanford_cars', 'flowers102',
                 'food101', 'fgvc_aircraft', 'sun397', 'dtd', 'eurosat',
                 'ucf101')
#: The 4 cross-domain targets (ImageNet-1K is the source, shown apart).
CROSS_DOMAIN = ('imagenetv2', 'imagenet_sketch', 'imagenet_a', 'imagenet_r')
SOURCE = ('imagenet', )
ALL_DATASETS = CROSS_DATASET + SOURCE + CROSS_DOMAIN
TITLES = {
    'caltech101': 'Caltech101',
    'oxford_pets': 'OxfordPets',
    'stanford_cars': 'StanfordCars',
    'flowers102': 'Flowers102',
    'food101': 'Food101',
    'fgvc_aircraft': 'FGVCAircraft',
    'sun397': 'SUN397',
    'dtd': 'DTD',
    'eurosat': 'EuroSAT',
    'ucf101': 'UCF101',
    'imagenet': 'ImageNet',
    'imagenetv2': 'ImageNet-V2',
    'imagenet_sketch': 'ImageNet-Sketch',
    'imagenet_a': 'ImageNet-A',
    'imagenet_r': 'ImageNet-R'
}
MEAN_XD = 'cross-dataset mean (10)'
MEAN_DG = 'cross-domain mean (4)'
#: A metric that does not apply to a run (a metric file's "n/a" or null).
NA = 'n/a'


class TableError(Exception):
    """A bad input; printed as one line."""


# -- run ---------------------------------------------------------------------
def _load_test_tool():
    spec = importlib.util.spec_from_file_location(
        'pomp_mm_test_tool', osp.join(ROOT, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    test_tool = _load_test_tool()
    out_dir = osp.join(args.metrics_dir, args.method)
    results, failed = {}, []
    for name, config in configs.items():
        out = osp.join(out_dir, f'{name}.json')
        argv = [
            config, '--out', out, '--work-dir',
            osp.join(args.work_dir, args.method, name)
        ]
        options = list(args.cfg_options or [])
        if args.data_root:
            options.append('test_dataloader.dataset.data_root=' +
                           mapped_data_root(config, args.data_root))
        if args.prompt:
            options.append(
                f'model.prompt_learner.prompt_checkpoint={args.prompt}')
        if options:
            argv += ['--cfg-options', *options]
        print(f'[{args.method}] {name}: {config}', flush=True)
        try:
            results[name] = test_tool.main(argv)
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


# -- table -------------------------------------------------------------------
def read_metrics(metrics_dir: str,
                 metric: str,
                 methods: Sequence[str] | None = None
                 ) -> dict[str, dict[str, float]]:
    """``method -> dataset -> value`` from ``<dir>/<method>/<dataset>.json``.

    Args:
        metrics_dir (str): The folder ``run`` (or ``tools/test.py --out``)
            wrote.
        metric (str): The key to read, e.g. ``'accuracy/top1'``.
        methods (Sequence[str], optional): Row order / selection; default:
            every sub-folder, sorted.

    Returns:
        dict: Values per method and dataset.
    """
    if not osp.isdir(metrics_dir):
        raise TableError(f'--metrics-dir {metrics_dir}: not a directory')
    if methods is None:
        methods = sorted(d for d in glob.glob(osp.join(metrics_dir, '*'))
                         if osp.isdir(d))
        methods = [osp.basename(d) for d in methods]
    table: dict[str, dict[str, float]] = {}
    for method in methods:
        folder = osp.join(metrics_dir, method)
        files = sorted(glob.glob(osp.join(folder, '*.json')))
        if not files:
            raise TableError(f'{folder}: no <dataset>.json metric files')
        row = {}
        for path in files:
            try:
                with open(path, encoding='utf-8') as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                raise TableError(f'metrics file {path}: cannot be read '
                                 f'({e})') from None
            if not isinstance(data, dict) or metric not in data:
                keys = ', '.join(data) if isinstance(data, dict) else ''
                raise TableError(f'metrics file {path}: no key {metric!r} '
                                 f'(keys: {keys}); pass --metric')
            row[osp.splitext(osp.basename(path))[0]] = metric_value(
                data[metric], f'metrics file {path}: {metric!r}')
        table[method] = row
    if not table:
        raise TableError(f'--metrics-dir {metrics_dir}: no method folders')
    return table


def metric_value(value, where: str) -> float | str | None:
    """A metric as a table cell: a float, :data:`NA`, or None.

    Args:
        value: The value read from JSON.
        where (str): ``<file>: <key>``, for the message.

    Returns:
        float | str | None: The number; :data:`NA` for ``"n/a"`` or
        ``null`` (the metric does not apply to the run).

    Raises:
        TableError: For anything else that is not a finite number (a
            string, a bool, NaN or infinity from a broken run).
    """
    if value is None or (isinstance(value, str)
                         and value.strip().lower() == NA):
        return NA
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value):
        return float(value)
    raise TableError(f'{where} is {value!r}; expected a finite number (or '
                     '"n/a" / null where the metric does not apply)')


def _mean(row: dict, names: Sequence[str]) -> float | str | None:
    """The mean of ``names`` in ``row``: None while one is missing,
    :data:`NA` if one does not apply."""
    if not all(n in row for n in names):
        return None
    if any(row[n] == NA for n in names):
        return NA
    return sum(row[n] for n in names) / len(names)


def build_rows(table: dict[str, dict[str, float]]) -> tuple:
    """Columns and rows (with the paper's averages) of the results table.

    Returns:
        tuple[list[str], list[list]]: Header (``method`` + column titles)
        and one row per method (None where a value is missing).
    """
    present = set().union(*table.values())
    extra = sorted(present - set(ALL_DATASETS))
    columns: list[str] = []
    keys: list[str | None] = []
    for group, mean_key in ((CROSS_DATASET, MEAN_XD), (SOURCE, None),
                            (CROSS_DOMAIN, MEAN_DG)):
        for name in group:
            if name in present:
                columns.append(TITLES[name])
                keys.append(name)
        if mean_key and any(n in present for n in group):
            columns.append(mean_key)
            keys.append(mean_key)
    for name in extra:
        columns.append(name)
        keys.append(name)
    rows = []
    for method, values in table.items():
        means = {
            MEAN_XD: _mean(values, CROSS_DATASET),
            MEAN_DG: _mean(values, CROSS_DOMAIN)
        }
        rows.append([method] +
                    [means[k] if k in means else values.get(k) for k in keys])
    return ['method'] + columns, rows


def _fmt(value: float | str | None) -> str:
    if value is None:
        return ''
    return NA if value == NA else f'{value:.2f}'


def write_markdown(path: str, header: list[str], rows: list[list],
                   metric: str) -> str:
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join(['---'] + ['---:'] * (len(header) - 1)) + '|'
    ]
    for row in rows:
        lines.append('| ' + ' | '.join([row[0]] + [_fmt(v)
                                                   for v in row[1:]]) + ' |')
    text = (f'Metric: `{metric}`. {MEAN_XD}: mean of the 10 cross-dataset '
            f'targets; {MEAN_DG}: mean of ImageNet-V2/-Sketch/-A/-R. An '
            'empty cell is a run that is missing; n/a: the metric does not '
            'apply to that run.\n\n' + '\n'.join(lines) +
            '\n')
    atomic_write_text(path, text)
    return text


def write_csv(path: str, header: list[str], rows: list[list]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[0]] + [_fmt(v) for v in row[1:]])
    atomic_write_text(path, buf.getvalue())


def write_plot(path: str,
               header: list[str],
               rows: list[list],
               metric: str,
               title: str = 'Zero-shot transfer') -> None:
    """Grouped bars: one group per column, one bar per method."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    columns = header[1:]
    x = np.arange(len(columns))
    width = 0.8 / max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(columns) + 2), 4.2))
    for i, row in enumerate(rows):
        values = [np.nan if v is None or v == NA else v for v in row[1:]]
        ax.bar(x - 0.4 + width * (i + 0.5), values, width, label=row[0])
    ax.set_xticks(x)
    ax.set_xticklabels(columns, rotation=40, ha='right', fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=120)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def table(args: argparse.Namespace) -> str:
    """Write ``<out>.md``, ``<out>.csv`` and ``<out>.png``; return the md."""
    data = read_metrics(args.metrics_dir, args.metric, args.methods)
    header, rows = build_rows(data)
    text = write_markdown(args.out + '.md', header, rows, args.metric)
    write_csv(args.out + '.csv', header, rows)
    write_plot(args.out + '.png', header, rows, args.metric, args.title)
    print(text)
    return text


# -- zoo ---------------------------------------------------------------------
#: Few-shot settings of the zoo (shots per class).
ZOO_SHOTS = (1, 2, 4, 8, 16)


def harmonic_mean(a: float | None, b: float | None) -> float | None:
    """CoCoOp's H = 2ab / (a + b) of base and novel accuracy (None if
    either is missing)."""
    if a is None or b is None:
        return None
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


def markdown_table(header: Sequence[str], rows: Sequence[Sequence],
                   digits: int = 1, missing: str = '–') -> list[str]:
    """Markdown lines of a table: text first column, numbers after.

    Args:
        header (Sequence[str]): Column titles.
        rows (Sequence[Sequence]): Rows; ``None`` cells print ``missing``.
        digits (int): Decimals of the numbers. Defaults to 1.
        missing (str): Text of a ``None`` cell. Defaults to ``'–'``.

    Returns:
        list[str]: The table's lines.
    """
    def cell(v):
        if v is None:
            return missing
        return f'{v:.{digits}f}' if isinstance(v, (int, float)) else str(v)

    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] + ['---:'] * (len(header) - 1)) + '|']
    lines += ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows]
    return lines


def zoo_tables(results: dict) -> str:
    """The zoo's markdown tables from ``tools/zoo.py``'s results dict.

    Args:
        results (dict): ``methods`` (key -> title, in row order) and one
            entry per protocol that ran: ``b2n`` (key -> ``base``,
            ``novel``), ``fewshot`` (key -> shots -> accuracy), ``xd`` and
            ``dg`` (key -> accuracy), ``retrieval`` (metric -> value),
            ``wise_alphas`` (alpha -> ``base``, ``novel``, ``dg``).

    Returns:
        str: Markdown, one ``###`` section per protocol.
    """
    titles = results['methods']
    out = []
    meta = results.get('meta', {})
    if meta:
        out.append(f"Top-1 accuracy (%). Seed {meta.get('seed')}, "
                   f"{meta.get('test_images')} test images per class; "
                   f"command: `{meta.get('command', '')}`. "
                   '– : not applicable (a closed-set linear probe has no '
                   'row for an unseen class) or not run.\n')
    b2n = results.get('b2n')
    if b2n:
        out += [('### Base-to-novel (mixed200: train on the 100 seen classes, '
                '8 shots)'), '']
        out += markdown_table(
            ['method', 'base', 'novel', 'H'],
            [[titles[m], r.get('base'), r.get('novel'),
              harmonic_mean(r.get('base'), r.get('novel'))]
             for m, r in b2n.items()])
        out.append('')
    shots = results.get('fewshot')
    if shots:
        columns = sorted({int(k) for r in shots.values() for k in r})
        out += [('### Few-shot (mixed200 seen classes, accuracy vs shots per '
                'class)'), '']
        out += markdown_table(
            ['method'] + [f'{k} shot' + ('s' if k > 1 else '')
                          for k in columns],
            [[titles[m]] + [r.get(str(k), r.get(k)) for k in columns]
             for m, r in shots.items()])
        out.append('')
    xd, dg = results.get('xd'), results.get('dg')
    if xd or dg:
        keys = list(dict.fromkeys(list(xd or {}) + list(dg or {})))
        out += [('### Cross-dataset and domain generalisation (the '
                'base-to-novel model)'), '']
        out += markdown_table(
            ['method', 'mixed200 base (source)', ('stars_hearts (cross-'
             'dataset, all classes)'), 'mixed200_dark (domain shift, base)'],
            [[titles[m], (b2n or {}).get(m, {}).get('base'),
              (xd or {}).get(m), (dg or {}).get(m)] for m in keys])
        out.append('')
    retrieval = results.get('retrieval')
    if retrieval:
        out += ['### Zero-shot image-text retrieval (recall@K, %)', '']
        ks = (1, 5, 10)
        out += markdown_table(
            ['direction'] + [f'R@{k}' for k in ks],
            [[name] + [retrieval.get(f'{d}/retrieval/Recall@{k}')
                       for k in ks]
             for d, name in (('i2t', 'image → text'),
                             ('t2i', 'text → image'))])
        out.append('')
    alphas = results.get('wise_alphas')
    if alphas:
        out += [('### WiSE-FT: mixing coefficient alpha (0: zero-shot, '
                '1: fine-tuned)'), '']
        out += markdown_table(
            ['alpha', 'base', 'novel', 'H', 'mixed200_dark'],
            [[f'{float(a):.2f}', r.get('base'), r.get('novel'),
              harmonic_mean(r.get('base'), r.get('novel')), r.get('dg')]
             for a, r in alphas.items()])
        out.append('')
    return '\n'.join(out)


def write_shots_plot(path: str, results: dict,
                     title: str = 'Few-shot accuracy (mini-world mixed200 '
                     'seen classes)') -> None:
    """Accuracy versus shots per method (log2 axis); zero-shot methods,
    which do not depend on shots, are dashed lines."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    shots = results.get('fewshot') or {}
    if not shots:
        raise TableError('no few-shot results to plot')
    titles = results['methods']
    kinds = results.get('kinds', {})
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    colours = [plt.cm.tab10(i) for i in range(10)] + [
        'black', 'gold', 'navy', 'lime', 'maroon', 'teal']
    markers = 'os^DvPX'  # 7 markers x 16 colours: no two rows alike
    for i, (method, row) in enumerate(shots.items()):
        points = sorted((int(k), v) for k, v in row.items() if v is not None)
        if not points:
            continue
        xs, ys = zip(*points)
        style = {'linestyle': '--', 'marker': None} if kinds.get(
            method) == 'zero-shot' else {'marker': markers[i % len(markers)]}
        ax.plot(xs, ys, label=titles[method],
                color=colours[i % len(colours)], **style)
    ax.set_xscale('log', base=2)
    ticks = sorted({int(k) for r in shots.values() for k in r})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.set_xlabel('shots per class')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=120)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


#: The sections of a zoo results file with one entry per method.
ZOO_METHOD_SECTIONS = ('b2n', 'fewshot', 'xd', 'dg')


def check_zoo_results(results: dict, where: str) -> dict:
    """Check a zoo results file before anything is rendered or written.

    A method that has no entry in a section did not run or failed (the
    file says so under ``failed``); it gets no row there, which is not an
    error. An entry for a method that ``methods`` does not list cannot be
    titled (the file was edited or merged by hand), and a value that is no
    number is no accuracy: both are errors naming the section and key.
    ``"n/a"`` is read as null (not applicable: rendered ``–``).

    Args:
        results (dict): The parsed JSON.
        where (str): ``--results <file>``, for the message.

    Returns:
        dict: ``results`` with every ``"n/a"`` replaced by None.

    Raises:
        TableError: On the first bad section, method or value.
    """
    methods = results['methods']
    if not isinstance(methods, dict) or not methods:
        raise TableError(f'{where}: "methods" is {methods!r}; expected '
                         '{method key: title}, as tools/zoo.py writes it')
    out = dict(results)
    for section in ZOO_METHOD_SECTIONS + ('retrieval', 'wise_alphas'):
        entries = results.get(section)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise TableError(f'{where}: "{section}" is a '
                             f'{type(entries).__name__}; expected a dict')
        for key in entries:
            if section in ZOO_METHOD_SECTIONS and key not in methods:
                raise TableError(
                    f'{where}: "{section}" has results for method {key!r}, '
                    'which "methods" does not list (it lists '
                    f'{", ".join(methods)}); expected every method with '
                    'results in "methods", as tools/zoo.py writes it')
        out[section] = _zoo_values(entries, f'{where}: "{section}"')
    return out


def _zoo_values(node, where: str):
    """``node`` with ``"n/a"`` as None; refuses a value that is no number
    (or a dict of them)."""
    if isinstance(node, dict):
        return {k: _zoo_values(v, f'{where}.{k}') for k, v in node.items()}
    value = metric_value(node, where)
    return None if value == NA else value


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
                   'configs (sets model.prompt_learner.prompt_checkpoint)')
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


if __name__ == '__main__':
    main()

"""Tables and plots of the benchmarks: the one place they are rendered.

- the classification transfer table of ``tools/results_table.py``
  (:func:`read_metrics`, :func:`build_rows`, :func:`write_markdown`,
  :func:`write_csv`, :func:`write_plot`): one row per method, one column
  per dataset, plus the paper's cross-dataset and cross-domain means;
- the transfer zoo's tables and accuracy-vs-shots plot
  (:func:`check_zoo_results`, :func:`zoo_tables`, :func:`write_shots_plot`);
- the mini-world benchmark's tables and bar plot (:func:`miniworld_table`,
  :func:`seg_table`, :func:`detection_tables`, :func:`gains_table`,
  :func:`miniworld_plot`), ``mean ± std`` cells for several seeds; each
  detector's row is one entry of :data:`DETECTION_ROWS`.

Every harmonic mean (CoCoOp's H, ZSSeg's hIoU) is
:func:`pomp_mm.core.utils.harmonic_mean`.
"""
import csv
import glob
import io
import json
import math
import os.path as osp
from collections.abc import Sequence
from typing import Dict, List, Optional

from pomp_mm.benchmarks.miniworld.seeds import cell, outside_spread
from pomp_mm.core.checkpoint import atomic_write, atomic_write_text
from pomp_mm.core.utils import harmonic_mean

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


# -- classification transfer table ------------------------------------------
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


# -- zoo ---------------------------------------------------------------------
#: Few-shot settings of the zoo (shots per class).
ZOO_SHOTS = (1, 2, 4, 8, 16)


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


# -- mini-world --------------------------------------------------------------
#: The mini-world's three prompts, in row order.
MINIWORLD_METHODS = ('hand template', 'CoOp (target seen, 8 shots)',
                     'POMP (source)')
#: Result keys of the segmentation and detection rows (Faster R-CNN, the
#: 3-stage cascade with masks, the cascade on CenterNet2's proposals, and
#: the Faster R-CNN with image labels).
SEG_KEY = 'segmentation'
DET_KEY = 'detection'
CASCADE_KEY = 'detection_cascade'
CENTERNET2_KEY = 'detection_centernet2'
IMAGE_LABEL_KEY = 'detection_image_labels'


def rows_table(rows: Dict[str, List[float]], columns: List[str],
               std: Dict[str, List[Optional[float]]] = None) -> str:
    """A markdown table: one row per method, one cell per value (%), as
    ``mean ± std`` when ``std`` is given."""
    lines = ['| method | ' + ' | '.join(columns) + ' |',
             '|---|' + '---|' * len(columns)]
    for m, v in rows.items():
        s = std[m] if std is not None else [None] * len(v)
        lines.append(f'| {m} | ' + ' | '.join(
            cell(x, e) for x, e in zip(v, s)) + ' |')
    return '\n'.join(lines)


SEG_COLUMNS = ['mIoU seen', 'mIoU unseen', 'hIoU']
DET_COLUMNS = ['AP50 base (seen)', 'AP50 novel (unseen)']
CASCADE_COLUMNS = ['box AP50 base', 'box AP50 novel', 'mask AP50 base',
                   'mask AP50 novel']
_BOX_TICKS = ['base', 'novel']
_MASK_TICKS = ['box\nbase', 'box\nnovel', 'mask\nbase', 'mask\nnovel']
#: The detection rows, in report order: result key -> table columns, the
#: table's heading in results.md, what the printed heading says of the
#: detector, and the plot panel's title and ticks.
DETECTION_ROWS = {
    DET_KEY: dict(
        columns=DET_COLUMNS, heading='Detection',
        says='Faster R-CNN trained on the seen-class boxes with each prompt '
        'as its classifier; all classes at test',
        panel='detection', ticks=_BOX_TICKS),
    CASCADE_KEY: dict(
        columns=CASCADE_COLUMNS, heading='Detection, cascade + masks',
        says='3-stage cascade with a class-agnostic mask head, each prompt '
        'as the classifier of every stage; all classes at test',
        panel='cascade + masks', ticks=_MASK_TICKS),
    CENTERNET2_KEY: dict(
        columns=CASCADE_COLUMNS,
        heading='Detection, CenterNet2 (cascade + masks)',
        says="the same cascade on a class-agnostic CenterNet head's "
        "proposals, CenterNet2's probabilistic test score; all classes at "
        'test', panel='CenterNet2 + masks', ticks=_MASK_TICKS),
    IMAGE_LABEL_KEY: dict(
        columns=DET_COLUMNS, heading='Detection + image labels',
        says='the Faster R-CNN trained on the seen-class boxes plus '
        'single-object images of all classes with their class only, '
        "Detic's max-size loss", panel='+ image labels',
        ticks=_BOX_TICKS),
}
#: the columns of each non-classification row of the results
ROW_COLUMNS = dict({SEG_KEY: SEG_COLUMNS},
                   **{k: row['columns'] for k, row in DETECTION_ROWS.items()})


def seg_table(rows: Dict[str, List[float]], std=None) -> str:
    return rows_table(rows, SEG_COLUMNS, std)


def detection_tables(rows: Dict[str, Dict[str, List[float]]], std=None,
                     scenes_of: str = 'mixed200') -> List[tuple]:
    """The tables of the detection rows present in ``rows`` (result key ->
    method -> values), in :data:`DETECTION_ROWS` order, as ``(heading for
    results.md, heading to print, table)``."""
    tables = []
    for key, row in DETECTION_ROWS.items():
        if rows.get(key) is None:
            continue
        table = rows_table(rows[key], row['columns'],
                           None if std is None else std[key])
        tables.append((f"{row['heading']} ({scenes_of} scenes)",
                       f"Open-vocabulary detection on {scenes_of} scenes "
                       f"({row['says']}), %", table))
    return tables


def miniworld_table(results: Dict[str, Dict[str, List[float]]],
                    std=None) -> str:
    """The classification table (``mean ± std`` cells when ``std``)."""
    targets = list(results)
    head = '| method | ' + ' | '.join(
        f'{t} seen | {t} unseen | {t} H' for t in targets) + ' |'
    lines = [head, '|' + '---|' * (1 + 3 * len(targets))]
    for m in MINIWORLD_METHODS:
        cells = [cell(v, None if std is None else std[t][m][i])
                 for t in targets for i, v in enumerate(results[t][m])]
        lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def gains_table(mean: dict, std: dict) -> str:
    """POMP's gain over the hand template and over CoOp in every cell, and
    whether it is outside the seed spread
    (:func:`pomp_mm.benchmarks.miniworld.seeds.outside_spread`)."""
    blocks = []
    for name, rows in mean.items():
        columns = ROW_COLUMNS.get(name, ['seen', 'unseen', 'H'])
        for i, column in enumerate(columns):
            blocks.append((f'{name} {column}', name, i))
    pomp, others = MINIWORLD_METHODS[2], MINIWORLD_METHODS[:2]
    lines = ['| cell | ' + ' | '.join(f'POMP - {o}' for o in others) + ' |',
             '|---|' + '---|' * len(others)]
    for label, name, i in blocks:
        a = (mean[name][pomp][i], std[name][pomp][i])
        cells = []
        for o in others:
            b = (mean[name][o][i], std[name][o][i])
            word = 'outside' if outside_spread(a, b) else (
                'below' if outside_spread(b, a) else 'within')
            cells.append(f'{a[0] - b[0]:+.1f} (spread {a[1] + b[1]:.1f}, '
                         f'{word})')
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def miniworld_plot(results, path: str, seg: Dict[str, List[float]] = None,
                   detection: Dict[str, Dict[str, List[float]]] = None,
                   scenes_of: str = 'mixed200', std: dict = None) -> None:
    """Bars per method: top-1 on each target's seen and unseen classes,
    then (when run) segmentation mIoU and one panel per detection row of
    ``detection`` (result key -> method -> AP50s, :data:`DETECTION_ROWS`);
    with ``std`` (several seeds) the bars are means with ±1
    sample-std error bars."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    targets = list(results)
    methods = MINIWORLD_METHODS

    def err(name, m, i):
        return 0.0 if std is None else std[name][m][i]

    panels = [(targets, [[results[t][m][0] for t in targets] for m in
                         methods],
               [[err(t, m, 0) for t in targets] for m in methods],
               'top-1, seen classes', 'top-1 accuracy (%)'),
              (targets, [[results[t][m][1] for t in targets] for m in
                         methods],
               [[err(t, m, 1) for t in targets] for m in methods],
               'top-1, unseen classes', None)]
    if seg is not None:
        panels.append((['seen', 'unseen'], [seg[m][:2] for m in methods],
                       [[err(SEG_KEY, m, i) for i in range(2)]
                        for m in methods],
                       f'segmentation ({scenes_of} scenes)', 'mIoU (%)'))
    for key, row in DETECTION_ROWS.items():
        rows = (detection or {}).get(key)
        if rows is None:
            continue
        n = len(row['ticks'])
        panels.append((row['ticks'], [rows[m][:n] for m in methods],
                       [[err(key, m, i) for i in range(n)]
                        for m in methods],
                       f"{row['panel']} ({scenes_of})", 'AP50 (%)'))
    widths = [len(p[0]) + 1 for p in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels) + 2,
                                                      3.6),
                             gridspec_kw=dict(width_ratios=widths))
    for ax, (ticks, values, errors, title, ylabel) in zip(axes, panels):
        x = np.arange(len(ticks))
        for i, m in enumerate(methods):
            ax.bar(x + (i - 1) * 0.27, values[i], 0.27, label=m,
                   yerr=errors[i] if std is not None else None,
                   capsize=2)
        ax.set_xticks(x, ticks, fontsize=8)
        ax.set_title(title)
        if ylabel:
            ax.set_ylabel(ylabel)
    axes[1].sharey(axes[0])
    axes[1].tick_params(labelleft=False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='lower center', ncol=len(methods),
               fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=110))
    plt.close(fig)

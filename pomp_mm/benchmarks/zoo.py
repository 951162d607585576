"""The transfer-method zoo on the mini-world: every method, every protocol.

    python tools/zoo.py                                   # the full run
    python tools/zoo.py --quick                           # smoke run
    python tools/zoo.py --methods coop clip_adapter --protocols b2n fewshot

Each method is a config (:data:`METHODS`); training goes through
:func:`pomp_mm.engine.train.main` and testing through
:func:`pomp_mm.engine.test.main` (``tools/train.py``'s and
``tools/test.py``'s), in this process, so every number comes from the same
MMEngine Runner a user runs. The protocols (:data:`PROTOCOLS`):

* ``b2n``, base-to-novel (CoCoOp): train on mixed200's seen (base) classes
  with 8 shots, test on its seen and unseen (novel) classes, and their
  harmonic mean H;
* ``fewshot``: train with 1, 2, 4, 8, 16 shots, test on the seen classes
  (the 8-shot model is the base-to-novel one);
* ``xd``, cross-dataset: the base-to-novel model on all stars_hearts
  classes;
* ``dg``, domain generalisation: the base-to-novel model on mixed200_dark's
  seen classes (the same classes on dark, noisy backgrounds);
* ``retrieval``: zero-shot image-text recall@1/5/10 of the CLIP in use.

A trained checkpoint is reused when its run folder holds one made under the
same key, and test results are cached under theirs, so an interrupted run
continues where it stopped: the key (:mod:`pomp_mm.benchmarks.runner`) is
the config's resolved content, the options and the digests of the files the
options name (CLIP, POMP prompt) and of the tested checkpoint, so a changed
config or a rewritten file is never reused. It writes ``results.json``,
``results.md`` and the accuracy-vs-shots plot
(:mod:`pomp_mm.benchmarks.report`).

``tools/zoo.py`` is the CLI over :func:`main`.
"""
import argparse
import hashlib
import json
import math
import os.path as osp
import sys
import time
from dataclasses import dataclass
from typing import Any

from pomp_mm.benchmarks.report import write_shots_plot, zoo_tables
from pomp_mm.benchmarks.runner import stage_key, test_once, train_once
from pomp_mm.core.checkpoint import atomic_write_text
from pomp_mm.engine.test import main as test_main
from pomp_mm.engine.train import main as train_main

#: The repository (the method configs live in ``configs/zoo``).
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@dataclass(frozen=True)
class Method:
    """A zoo method: its row title, its config and how it is run.

    Attributes:
        title (str): The row name of the tables.
        config (str): Config path, relative to the repository root.
        kind (str): ``'zero-shot'`` (tested as is), ``'trained'``
            (``tools/train.py`` first) or ``'closed-set'`` (trained, but its
            classifier has one row per training class: no novel or
            cross-dataset classes).
    """
    title: str
    config: str
    kind: str = 'trained'


_Z = 'configs/zoo'
#: method -> config, in table order.
METHODS: dict[str, Method] = {
    'zeroshot': Method('hand template "a photo of a {}."',
                       f'{_Z}/zeroshot/miniworld_b2n.py', 'zero-shot'),
    'pomp': Method('POMP prompt (zero-shot)',
                   f'{_Z}/zeroshot/miniworld_b2n_pomp.py', 'zero-shot'),
    'linear_probe': Method('linear probe', f'{_Z}/linear_probe/'
                           'miniworld_b2n.py', 'closed-set'),
    'coop': Method('CoOp', f'{_Z}/coop/miniworld_b2n.py'),
    'coop_pomp': Method('CoOp, POMP init',
                        f'{_Z}/coop/miniworld_b2n_pomp-init.py'),
    'cocoop': Method('CoCoOp', f'{_Z}/cocoop/miniworld_b2n.py'),
    'cocoop_pomp': Method('CoCoOp, POMP init',
                          f'{_Z}/cocoop/miniworld_b2n_pomp-init.py'),
    'kgcoop': Method('KgCoOp', f'{_Z}/kgcoop/miniworld_b2n.py'),
    'kgcoop_pomp': Method('KgCoOp, POMP init',
                          f'{_Z}/kgcoop/miniworld_b2n_pomp-init.py'),
    'maple': Method('MaPLe', f'{_Z}/maple/miniworld_b2n.py'),
    'maple_pomp': Method('MaPLe, POMP init',
                         f'{_Z}/maple/miniworld_b2n_pomp-init.py'),
    'vp': Method('VP (visual prompt)', f'{_Z}/vp/miniworld_b2n.py'),
    'clip_adapter': Method('CLIP-Adapter',
                           f'{_Z}/clip_adapter/miniworld_b2n.py'),
    'tip_adapter': Method('Tip-Adapter (training-free)',
                          f'{_Z}/tip_adapter/miniworld_b2n.py'),
    'tip_adapter_f': Method('Tip-Adapter-F',
                            f'{_Z}/tip_adapter_f/miniworld_b2n.py'),
    'wise_ft': Method('WiSE-FT (alpha 0.5)', f'{_Z}/wise_ft/miniworld_b2n.py'),
}
#: what a plain ``tools/zoo.py`` runs: all but the POMP-init variants of
#: CoCoOp, KgCoOp and MaPLe (``--methods`` adds them; CoCoOp alone costs
#: about 40% of the default run)
DEFAULT_METHODS = tuple(k for k in METHODS if k not in (
    'cocoop_pomp', 'kgcoop_pomp', 'maple_pomp'))
RETRIEVAL_CONFIG = f'{_Z}/retrieval/miniworld.py'
PROTOCOLS = ('b2n', 'fewshot', 'xd', 'dg', 'retrieval')
#: test name -> test dataset (split, subset)
TESTS = {
    'base': ('mixed200', 'seen'),
    'novel': ('mixed200', 'unseen'),
    'xd': ('stars_hearts', 'all'),
    'dg': ('mixed200_dark', 'seen'),
}
B2N_SHOTS = 8
#: A trained run's stamp (its key) in its run folder; the cache folder of
#: test results (by key) beside a checkpoint.
RUN_STAMP = 'zoo_run.json'
TEST_CACHE = 'zoo_tests'


class ZooError(Exception):
    """A bad input; printed as one line."""


def _write_json(path: str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=float) + '\n')


def _walk(node: Any, key: str, path: str = 'model'):
    """``(dotted path, dict)`` of every dict in ``node`` holding ``key``."""
    if isinstance(node, dict):
        if key in node:
            yield path, node
        for k, v in node.items():
            yield from _walk(v, key, f'{path}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _walk(v, key, f'{path}.{i}')


class Zoo:
    """Runs methods under protocols and collects their numbers.

    Args:
        args (argparse.Namespace): The command line (see :func:`parse_args`).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        from mmengine.config import Config
        self.args = args
        self.Config = Config
        self.work = osp.abspath(args.work_dir)
        self.tag = f"seed{args.seed}{'_quick' if args.quick else ''}"
        self._configs: dict[str, Any] = {}

    def config(self, path: str):
        """The config at ``path`` (relative to the repository), read once."""
        if path not in self._configs:
            self._configs[path] = self.Config.fromfile(osp.join(ROOT, path))
        return self._configs[path]

    # -- config options --------------------------------------------------
    @staticmethod
    def _existing(path: str, what: str, hint: str) -> str:
        """``path`` (from the working folder or the repository) made
        absolute, so runs do not depend on the working folder."""
        for candidate in (path, osp.join(ROOT, path)):
            if osp.isfile(candidate):
                return osp.abspath(candidate)
        raise ZooError(f'{what} {path} does not exist; {hint}')

    def common_options(self, config: str) -> list[str]:
        """CLIP, POMP prompt, seed and log-level overrides for a config."""
        cfg = self.config(config)
        opts = [f'randomness.seed={self.args.seed}',
                f'log_level={self.args.log_level}']
        for path, node in _walk(cfg.model, 'type'):
            if node['type'] != 'FrozenCLIP':
                continue
            clip = self.args.clip or node.get('checkpoint')
            if clip:
                clip = self._existing(
                    clip, 'CLIP checkpoint', 'make it with python '
                    'tools/miniworld.py (or tools/train_tiny_clip.py --out '
                    'data/miniworld/tiny_clip.pt), or pass --clip')
                opts.append(f'{path}.checkpoint={clip}')
            if self.args.clip_model:
                opts.append(f'{path}.model_name={self.args.clip_model}')
        if self.args.clip_model:  # a linear head reads CLIP's embed dim
            import open_clip
            model_cfg = open_clip.get_model_config(self.args.clip_model)
            if model_cfg is None:
                raise ZooError(f'--clip-model {self.args.clip_model}: not an '
                               'open_clip model config')
            for path, node in _walk(cfg.model, 'in_channels'):
                if node.get('type') == 'LinearClsHead':
                    opts.append(f'{path}.in_channels={model_cfg["embed_dim"]}')
        for path, node in _walk(cfg.model, 'prompt_checkpoint'):
            prompt = self.args.pomp_prompt or node['prompt_checkpoint']
            if prompt:
                prompt = self._existing(
                    prompt, f'{config}: the POMP prompt', 'pre-train it with '
                    'python tools/miniworld.py, or pass --pomp-prompt')
                opts.append(f'{path}.prompt_checkpoint={prompt}')
        return opts

    def config_digest(self, config: str) -> str:
        """SHA-1 of a config's resolved content: a checkpoint is reused only
        if its config did not change since."""
        cfg = self.config(config)
        text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
        return hashlib.sha1(text.encode('utf-8')).hexdigest()

    def epoch_options(self, cfg, shots: int) -> list[str]:
        """Fewer epochs for ``--quick`` and, with ``--fewshot-epochs
        equal-steps``, for runs of more than 8 shots (as many optimizer
        steps as the 8-shot run); a cosine schedule spanning the config's
        epochs is shortened with them."""
        epochs = int(cfg.train_cfg.get('max_epochs', 0))
        if epochs == 0:  # training-free (Tip-Adapter's cache)
            return []
        if self.args.quick:
            new = 1
        elif self.args.fewshot_epochs == 'equal-steps' and \
                shots > B2N_SHOTS:
            new = max(1, math.ceil(epochs * B2N_SHOTS / shots))
        else:
            new = epochs
        if new == epochs:
            return []
        opts = [f'train_cfg.max_epochs={new}']
        schedulers = cfg.get('param_scheduler') or []
        for i, scheduler in enumerate(
                schedulers if isinstance(schedulers, list) else []):
            if scheduler.get('T_max') == epochs:
                opts.append(f'param_scheduler.{i}.T_max={new}')
        return opts

    def train_options(self, config: str, shots: int) -> list[str]:
        cfg = self.config(config)
        opts = [f'train_dataloader.dataset.images_per_class={shots}']
        opts += self.epoch_options(cfg, shots)
        if cfg.get('default_hooks', {}).get('checkpoint'):
            # the last checkpoint only: saving also formats the config
            opts.append('default_hooks.checkpoint.interval=100000')
        if self.args.quick:
            opts.append('train_dataloader.dataset.max_classes=10')
            opts += [f'custom_hooks.{i}.augment_epochs=2'
                     for i, hook in enumerate(cfg.get('custom_hooks', []))
                     if hook.get('type') == 'TipAdapterCacheHook']
        if self.args.train_options:
            opts += list(self.args.train_options)
        return opts

    def test_options(self, test: str) -> list[str]:
        split, subset = TESTS[test]
        ds = 'test_dataloader.dataset'
        opts = [f'{ds}.split={split}', f'{ds}.subset={subset}',
                f'{ds}.images_per_class={self.args.test_images}',
                f'{ds}.sample_seed={self.args.test_seed}']
        if self.args.quick:
            opts.append(f'{ds}.max_classes=10')
        return opts

    # -- runs --------------------------------------------------------------
    def train(self, key: str, shots: int) -> str | None:
        """Train (or reuse) a method; its checkpoint, or None (zero-shot)."""
        method = METHODS[key]
        if method.kind == 'zero-shot':
            return None
        work = osp.join(self.work, key, f'shots{shots}_{self.tag}')
        options = self.common_options(method.config) + self.train_options(
            method.config, shots)
        run_key = self.run_key(method.config, options)

        def checkpoint() -> str | None:
            try:
                with open(osp.join(work, 'last_checkpoint'),
                          encoding='utf-8') as f:
                    return f.read().strip()
            except OSError:
                return None

        def train() -> None:
            print(f'[zoo] {key} {shots}-shot: training {method.config} -> '
                  f'{work}', flush=True)
            train_main([
                osp.join(ROOT, method.config), '--work-dir', work,
                '--no-validate', '--overwrite', '--cfg-options', *options])
            if not checkpoint() or not osp.isfile(checkpoint()):
                raise ZooError(f'{method.config}: training wrote no '
                               f'checkpoint in {work}')

        start = time.time()
        path, reused = train_once(work, run_key, checkpoint, train,
                                  stamp=RUN_STAMP, config=method.config,
                                  options=options)
        if reused:
            print(f'[zoo] {key} {shots}-shot: reusing {path}', flush=True)
        else:
            print(f'[zoo] {key} {shots}-shot: trained in '
                  f'{time.time() - start:.0f} s', flush=True)
        return path

    def run_key(self, config: str, options: list[str],
                checkpoint: str | None = None) -> str:
        """:func:`~pomp_mm.benchmarks.runner.stage_key` of a run: the
        config's resolved content, the options, and the files they name
        (CLIP, prompt) and ``checkpoint`` by content."""
        inputs = {'checkpoint': checkpoint}
        for opt in options:
            name, _, value = opt.partition('=')
            if name.endswith(('.checkpoint', '.prompt_checkpoint')) and \
                    osp.isfile(value):
                inputs[name] = value
        text = json.dumps([config, self.config_digest(config), options])
        return stage_key(text, inputs)

    def test(self, key: str, checkpoint: str | None, test: str,
             extra: tuple[str, ...] = (), config: str | None = None) -> dict:
        """Metrics of one test, cached under its key."""
        config = config or METHODS[key].config
        opts = self.common_options(config) + (
            self.test_options(test) if test in TESTS else []) + list(extra)
        folder = osp.dirname(checkpoint) if checkpoint else osp.join(
            self.work, key, f'zero-shot_{self.tag}')
        argv = [osp.join(ROOT, config)] + ([checkpoint] if checkpoint else [])

        def run() -> dict:
            metrics = test_main(argv + [
                '--work-dir', osp.join(folder, 'test'), '--cfg-options',
                *opts])
            return {k: float(v) for k, v in metrics.items()}

        return test_once(osp.join(folder, TEST_CACHE),
                         self.run_key(config, opts, checkpoint), run,
                         config=config, options=opts)

    # -- protocols ---------------------------------------------------------
    def run_method(self, key: str, results: dict) -> None:
        method = METHODS[key]
        protocols = self.args.protocols
        top1 = 'accuracy/top1'
        start, cpu = time.time(), time.process_time()
        needs_b2n = any(p in protocols for p in ('b2n', 'xd', 'dg')) or (
            'fewshot' in protocols and B2N_SHOTS in self.args.shots)
        if needs_b2n:
            ckpt = self.train(key, B2N_SHOTS)
            base = self.test(key, ckpt, 'base')[top1]
            if 'b2n' in protocols:
                novel = None if method.kind == 'closed-set' else \
                    self.test(key, ckpt, 'novel')[top1]
                results['b2n'][key] = {'base': base, 'novel': novel}
            if 'xd' in protocols:
                results['xd'][key] = None if method.kind == 'closed-set' \
                    else self.test(key, ckpt, 'xd')[top1]
            if 'dg' in protocols:
                results['dg'][key] = self.test(key, ckpt, 'dg')[top1]
            if 'fewshot' in protocols and B2N_SHOTS in self.args.shots:
                results['fewshot'].setdefault(key, {})[str(B2N_SHOTS)] = base
            if key == 'wise_ft' and self.args.wise_alphas and (
                    'b2n' in protocols):
                for alpha in self.args.wise_alphas:
                    extra = (f'model.alpha={alpha}', )
                    row = {t: self.test(key, ckpt, t, extra)[top1]
                           for t in ('base', 'novel', 'dg')}
                    results['wise_alphas'][f'{alpha:g}'] = row
        if 'fewshot' in protocols:
            row = results['fewshot'].setdefault(key, {})
            for shots in self.args.shots:
                if shots == B2N_SHOTS and needs_b2n:
                    continue
                ckpt = self.train(key, shots)
                row[str(shots)] = self.test(key, ckpt, 'base')[top1]
            results['fewshot'][key] = {str(k): row[str(k)]
                                       for k in sorted(self.args.shots)}
        results['seconds'][key] = round(time.time() - start, 1)
        results['cpu_seconds'][key] = round(time.process_time() - cpu, 1)

    def run(self) -> dict:
        args = self.args
        missing = [k for k in args.methods
                   if not osp.isfile(osp.join(ROOT, METHODS[k].config))]
        if missing:
            raise ZooError(
                f'method {missing[0]}: config {METHODS[missing[0]].config} '
                'does not exist (that part of the zoo is not built here); '
                'choose others with --methods')
        results: dict[str, Any] = {
            'meta': {'seed': args.seed, 'test_images': args.test_images,
                     'fewshot_epochs': args.fewshot_epochs,
                     'quick': args.quick, 'shots': list(args.shots),
                     'protocols': list(args.protocols),
                     'command': args.command},
            'methods': {k: METHODS[k].title for k in args.methods},
            'kinds': {k: METHODS[k].kind for k in args.methods},
            'configs': {k: METHODS[k].config for k in args.methods},
            'b2n': {}, 'fewshot': {}, 'xd': {}, 'dg': {},
            'wise_alphas': {}, 'seconds': {}, 'cpu_seconds': {},
        }
        start, cpu = time.time(), time.process_time()
        for key in args.methods:
            try:
                self.run_method(key, results)
            except (Exception, SystemExit) as e:
                if not args.keep_going:
                    raise
                msg = str(e).strip().splitlines()[0] if str(e).strip() else ''
                print(f'[zoo] {key} FAILED: {type(e).__name__}: {msg}',
                      flush=True)
                results.setdefault('failed', {})[key] = msg
            self.write(results)
        if 'retrieval' in args.protocols:
            opts = []
            if args.quick:
                opts.append('test_dataloader.dataset.max_classes=20')
            results['retrieval'] = self.test('retrieval', None, 'retrieval',
                                              tuple(opts), RETRIEVAL_CONFIG)
        results['meta']['seconds'] = round(time.time() - start, 1)
        results['meta']['cpu_seconds'] = round(time.process_time() - cpu, 1)
        self.write(results)
        return results

    def write(self, results: dict) -> str:
        """results.json, results.md and the shots plot, atomically."""
        out = osp.abspath(self.args.out_dir)
        _write_json(osp.join(out, 'results.json'), results)
        text = zoo_tables(results)
        atomic_write_text(osp.join(out, 'results.md'), text)
        if any(results['fewshot'].values()):
            write_shots_plot(
                self.args.plot or osp.join(out, 'zoo_shots.png'), results)
        return text


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run the transfer-method zoo on the mini-world.')
    parser.add_argument('--methods', nargs='+',
                        default=list(DEFAULT_METHODS), choices=list(METHODS),
                        metavar='METHOD',
                        help=f'methods to run, of: {", ".join(METHODS)} '
                        '(default: all but cocoop_pomp, kgcoop_pomp, '
                        'maple_pomp)')
    parser.add_argument('--protocols', nargs='+', default=list(PROTOCOLS),
                        choices=PROTOCOLS, help='default: all')
    parser.add_argument('--shots', nargs='+', type=int,
                        default=[1, 2, 4, 8, 16],
                        help='few-shot settings (shots per class)')
    parser.add_argument(
        '--fewshot-epochs', choices=('equal-steps', 'config'),
        default='equal-steps',
        help='equal-steps (default): runs of more than 8 shots train '
        'epochs x 8 / shots epochs, as many steps as the 8-shot run; '
        "config: every run trains the config's epochs")
    parser.add_argument('--test-images', type=int,
                        help='test images per class (default: 10; 2 with '
                        '--quick)')
    parser.add_argument('--test-seed', type=int, default=3,
                        help='seed of the test images')
    parser.add_argument('--seed', type=int, default=0,
                        help='training seed (randomness.seed)')
    parser.add_argument('--wise-alphas', nargs='*', type=float,
                        default=[0.0, 0.25, 0.5, 0.75, 1.0],
                        help="WiSE-FT mixing coefficients to sweep on the "
                        "base-to-novel checkpoint (none: no sweep)")
    parser.add_argument('--clip', help='CLIP checkpoint for every config '
                        '(default: each config\'s, the mini-world CLIP)')
    parser.add_argument('--clip-model', help='open_clip model name of --clip')
    parser.add_argument('--pomp-prompt', help='the POMP prompt file for the '
                        'POMP zero-shot and POMP-init configs')
    parser.add_argument('--train-options', nargs='+', metavar='KEY=VALUE',
                        help='extra --cfg-options for every training run')
    parser.add_argument('--work-dir', default='work_dirs/zoo',
                        help='run folders (checkpoints, logs, test caches)')
    parser.add_argument('--out-dir', default='work_dirs/zoo',
                        help='results.json, results.md, zoo_shots.png')
    parser.add_argument('--plot', help='the accuracy-vs-shots plot (default: '
                        '<out-dir>/zoo_shots.png)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: 10 classes, at most 1 epoch, '
                        'shots 1 2 8, 2 test images per class')
    parser.add_argument('--keep-going', action='store_true',
                        help='go on after a method fails')
    parser.add_argument('--log-level', default='WARNING',
                        help="MMEngine log level of the runs (INFO: "
                        "per-iteration logs)")
    args = parser.parse_args(argv)
    if args.quick and args.shots == [1, 2, 4, 8, 16]:
        args.shots = [1, 2, 8]
    if args.test_images is None:
        args.test_images = 2 if args.quick else 10
    for name in ('shots', 'test_images'):
        values = getattr(args, name)
        if min(values if isinstance(values, list) else [values]) < 1:
            parser.error(f'--{name.replace("_", "-")}: expected numbers '
                         '>= 1')
    if any(not 0 <= a <= 1 for a in args.wise_alphas):
        parser.error('--wise-alphas: expected values in [0, 1]')
    args.methods = list(dict.fromkeys(args.methods))
    args.command = 'python tools/zoo.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        results = Zoo(args).run()
    except ZooError as e:
        sys.exit(f'zoo.py: error: {e}')
    print(zoo_tables(results))
    return results


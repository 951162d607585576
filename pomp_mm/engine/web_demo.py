# Copyright (c) pomp_mm contributors. All rights reserved.
"""Try a POMP prompt in a browser: the logic of ``tools/web_demo.py``.

    python tools/web_demo.py                  # http://127.0.0.1:7860/
    python tools/web_demo.py --port 8000 --prompt my_prompt.pth
    python tools/web_demo.py --model-name ViT-B-16 \\
        --clip-checkpoint ViT-B-16.pt --prompt P.pth \\
        --config DET_CFG.py --weights DET.pth

One page (``web_demo.html``, no external assets): pick the task (cls, seg,
det), upload an image or pick a built-in mini-world scene, type a
vocabulary (comma- or line-separated, or a built-in list name such as
``coco``), choose a prompt file, and see the picture with its predictions
for that prompt beside the hand template "a photo of a {}.", with a table
of scores. Everything runs on :func:`pomp_mm.apis.PompInferencer`; one
inferencer per (task, prompt) is built on first use and kept.

The server is the standard library's ``ThreadingHTTPServer`` (docs/web_demo.md
says why not Gradio). It binds 127.0.0.1 unless ``--host`` says otherwise,
decodes uploads in memory (an upload is never written to disk, and no name
the browser sends is used as a file name), refuses files over
``--max-upload-mb`` (413) and bytes that do not decode as an image (415),
and writes only into ``--work-dir`` (the exported scenes). JSON endpoints:

* ``GET /api/options``: tasks (with the line saying why one is
  unavailable), prompts, scenes, built-in vocabularies, limits;
* ``GET /api/scene/N.png``: scene ``N``;
* ``POST /api/predict`` with ``{"task", "prompt", "texts", "scene": N}`` or
  ``{..., "image": "<base64 or data URL>"}``: the predictions of the chosen
  prompt and of the hand template (``panels``), as ``PompInferencer``
  returns them (``seg``'s label map as a base64 16-bit PNG), and each
  picture as a PNG data URL.

With no ``--clip-checkpoint`` the mini-world default files are used (the
tiny CLIP and POMP prompt, built first with a progress message when
absent), and a few mini-world scenes are exported into the work folder;
both come from the benchmark level through ``main(defaults=..., scenes=...)``
(``tools/web_demo.py`` passes them), as in ``tools/infer.py``.
"""
import argparse
import base64
import binascii
import io
import json
import os
import os.path as osp
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pomp_mm  # noqa: F401
from pomp_mm.engine.infer import add_prediction_options, inferencer_kwargs

PROG = 'web_demo.py'
PAGE = osp.join(osp.dirname(osp.abspath(__file__)), 'web_demo.html')
#: Prompt id of the hand template "a photo of a {}." (no prompt file).
HAND = 'hand'
#: Prompt id of the default (mini-world) POMP prompt.
DEFAULT = 'default'
HAND_LABEL = "hand template 'a photo of a {}.'"
#: Slack for the JSON and base64 around an upload in a request body.
_BODY_SLACK = 1 << 20


class DemoError(Exception):
    """A bad request: one line for the page, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = int(status)


class _RaisingParser:
    """What :func:`pomp_mm.engine.infer.inferencer_kwargs` calls
    ``parser.error`` on: here a task's bad setting marks that task
    unavailable (one line on the page) instead of exiting."""

    def error(self, message: str):
        raise ValueError(message)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument('--host', default='127.0.0.1', help='address to bind '
                   '(default: %(default)s, this machine only)')
    p.add_argument('--port', type=int, default=7860,
                   help='port (default: %(default)s; 0: any free port)')
    p.add_argument('--work-dir', default=osp.join('work_dirs', 'web_demo'),
                   help='the only folder the demo writes to (default: '
                   '%(default)s)')
    p.add_argument('--max-upload-mb', type=float, default=10.0,
                   help='largest upload accepted (default: %(default)s)')
    p.add_argument('--max-side', type=int, default=512,
                   help='uploads with a longer side are scaled down to it '
                   '(default: %(default)s)')
    p.add_argument('--max-pixels', type=int, default=64_000_000,
                   help='uploads of more pixels are refused before they '
                   'are decoded (default: %(default)s)')
    p.add_argument('--scenes', type=int, default=6,
                   help='built-in mini-world scenes exported into the work '
                   'folder (default: %(default)s)')
    p.add_argument('--config', help='detector config (det; with --weights)')
    p.add_argument('--weights', help='trained detector checkpoint (det)')
    p.add_argument('--model-name', help='open_clip model name of the CLIP '
                   'file (cls, seg), e.g. ViT-B-16')
    p.add_argument('--clip-checkpoint', help='CLIP weights file (cls, seg)')
    p.add_argument('--prompt', action='append', default=[], metavar='FILE',
                   help='a prompt file offered in the page (repeatable)')
    add_prediction_options(p)  # the same as tools/infer.py's
    p.add_argument('--device', default='cpu')
    return p


# -- inputs ------------------------------------------------------------------
def parse_vocabulary(text) -> List[str]:
    """The names of a typed vocabulary: a built-in list name (``coco``,
    ``imagenet``, ...) or names separated by commas or new lines. A typed
    string is never opened as a file (a path reads as one class name)."""
    from pomp_mm.apis import read_texts
    from pomp_mm.apis.inferencer import builtin_vocabularies
    if isinstance(text, list) and all(isinstance(t, str) for t in text):
        text = '\n'.join(text)
    if not isinstance(text, str):
        raise DemoError(400, 'texts: expected a string of class names')
    text = text.strip()
    if text in builtin_vocabularies():
        return read_texts(text)
    names = [n.strip() for line in text.splitlines() for n in line.split(',')]
    names = [n for n in names if n]
    if not names:
        raise DemoError(400, 'vocabulary: no class name; type names '
                        'separated by commas or new lines, or a built-in '
                        'list (' + ', '.join(sorted(builtin_vocabularies()))
                        + ')')
    try:
        return read_texts(names)
    except ValueError as e:
        raise DemoError(400, str(e) if str(e).startswith('vocabulary')
                        else f'vocabulary: {e}')


def decode_image(data: bytes, max_bytes: int, max_pixels: int):
    """A BGR uint8 image from uploaded bytes, refused (413/415) when too
    large or not an image: the bytes are decoded, the name is not looked
    at."""
    import cv2
    import numpy as np
    from PIL import Image
    if len(data) > max_bytes:
        raise DemoError(413, f'upload of {len(data) / 2**20:.2f} MB: larger '
                        f'than the limit of {max_bytes / 2**20:.3g} MB '
                        '(--max-upload-mb)')
    if not data:
        raise DemoError(415, 'upload: empty file; expected an image')
    try:  # the header's size, before any pixel is decoded
        with Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
    except Exception:
        w = h = None
    if w is not None and w * h > max_pixels:
        raise DemoError(413, f'upload of {w}x{h} pixels: more than the limit '
                        f'of {max_pixels} (--max-pixels)')
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise DemoError(415, 'upload: not an image (OpenCV could not decode '
                        'it); expected a PNG, JPEG, BMP, TIFF or WebP file')
    return image


def fit_side(image, max_side: int):
    """``image`` with its longer side at most ``max_side`` (area
    resampling) and whether it was scaled."""
    import cv2
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image, False
    f = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                      interpolation=cv2.INTER_AREA), True


def png_data_url(image) -> str:
    import cv2
    ok, buf = cv2.imencode('.png', image)
    if not ok:
        raise RuntimeError('could not encode a PNG')
    return 'data:image/png;base64,' + base64.b64encode(buf.tobytes()).decode()


def jsonable(task: str, pred: dict) -> dict:
    """A prediction of ``PompInferencer`` as JSON (``seg``'s label map as a
    base64 16-bit PNG, ``label_map_png``)."""
    if task != 'seg':
        return dict(pred)
    import cv2
    import numpy as np
    ok, buf = cv2.imencode('.png', pred['label_map'].astype(np.uint16))
    out = {k: v for k, v in pred.items() if k != 'label_map'}
    out['label_map_png'] = base64.b64encode(buf.tobytes()).decode()
    out['label_map_shape'] = list(pred['label_map'].shape)
    return out


# -- the demo --------------------------------------------------------------
class WebDemo:
    """What the server answers: the prompts, scenes and cached inferencers.

    Args:
        kwargs_for (callable): ``kwargs_for(task, prompt_id)`` ->
            ``PompInferencer`` keyword arguments; raises ``ValueError`` with
            one line when that task cannot run.
        prompts (dict): prompt id -> label, in the page's order.
        work_dir (str): The only folder written to.
        scenes (list): ``dict(path, name, texts)`` of the built-in scenes.
        max_upload_mb, max_side, max_pixels: The upload limits.
    """

    def __init__(self, kwargs_for: Callable[[str, str], dict],
                 prompts: Dict[str, str], work_dir: str,
                 scenes: Sequence[dict] = (), max_upload_mb: float = 10.0,
                 max_side: int = 512, max_pixels: int = 64_000_000) -> None:
        from pomp_mm.apis import TASKS
        self.kwargs_for = kwargs_for
        self.prompts = dict(prompts)
        self.work_dir = osp.abspath(work_dir)
        self.scenes = list(scenes)
        self.max_upload_mb = float(max_upload_mb)
        self.max_bytes = int(max_upload_mb * 2**20)
        self.max_side = int(max_side)
        self.max_pixels = int(max_pixels)
        self.tasks = {}  # task -> None (available) or the line saying why not
        for task in TASKS:
            try:
                kwargs_for(task, next(iter(self.prompts)))
                self.tasks[task] = None
            except (ValueError, FileNotFoundError) as e:
                self.tasks[task] = str(e)
        self._cache: Dict[Tuple[str, str], object] = {}
        self._errors: Dict[Tuple[str, str], str] = {}
        self._lock = threading.Lock()  # the models are not thread-safe

    def options(self) -> dict:
        from pomp_mm.apis.inferencer import builtin_vocabularies
        return dict(
            tasks=[dict(id=t, available=why is None, message=why)
                   for t, why in self.tasks.items()],
            prompts=[dict(id=k, label=v) for k, v in self.prompts.items()],
            hand=HAND,
            scenes=[dict(id=i, name=s['name'], texts=', '.join(s['texts']))
                    for i, s in enumerate(self.scenes)],
            builtins=sorted(builtin_vocabularies()),
            max_upload_mb=self.max_upload_mb)

    def inferencer(self, task: str, prompt: str):
        """The cached inferencer of (task, prompt), built on first use; a
        failed build is remembered as its one line."""
        from pomp_mm.apis import PompInferencer
        key = (task, prompt)
        if key in self._errors:
            raise ValueError(self._errors[key])
        if key not in self._cache:
            try:
                kwargs = self.kwargs_for(task, prompt)
                if task == 'det' and prompt == HAND:
                    kwargs = self._hand_detector(kwargs)
                self._cache[key] = PompInferencer(task, **kwargs)
            except (ValueError, FileNotFoundError, KeyError,
                    RuntimeError) as e:
                self._errors[key] = f'{task}, {self.prompts[prompt]}: ' + \
                    str(e).strip().splitlines()[0]
                raise ValueError(self._errors[key])
        return self._cache[key]

    def _hand_detector(self, kwargs: dict) -> dict:
        """The detector with the hand template: its config's prompt
        learners get the token embeddings of "a photo of a" (what
        ``ctx_init`` computes) as a prompt state. A detector trained with a
        prompt file holds no ctx of its own (the file is its prompt), so a
        plain ``ctx_init`` config would not load its weights."""
        import copy

        import torch
        from mmengine.config import Config

        from pomp_mm.apis.inferencer import _learners, _walk
        other = next((p for p in self.prompts if p != HAND), None)
        if other is None:
            raise ValueError('det: the hand template needs the detector built '
                             'with a prompt first; give --prompt FILE')
        learner = _learners(self.inferencer('det', other).model)[0]
        template = 'a photo of a'
        ids = torch.tensor(learner.clip.tokenizer.encode(template))
        with torch.no_grad():
            ctx = learner.clip.token_embedding(ids).to(
                learner.ctx.dtype).clone()
        model = kwargs['model']
        cfg = Config.fromfile(model) if isinstance(model, str) else \
            copy.deepcopy(model)

        def fix(node):
            if str(node.get('type')).split('.')[-1] == 'PompPromptLearner':
                node.update(prompt_checkpoint=None, ctx_init=None,
                            n_ctx=len(ids))
        _walk(cfg.model, fix)
        return dict(kwargs, model=cfg, prompt=dict(ctx=ctx))

    def scene_image(self, index: int):
        import mmcv
        if not 0 <= index < len(self.scenes):
            raise DemoError(404, f'scene {index}: no such scene (there are '
                            f'{len(self.scenes)})')
        return mmcv.imread(self.scenes[index]['path'], channel_order='bgr')

    def predict(self, request: dict) -> dict:
        """The answer of ``POST /api/predict`` (see the module docstring)."""
        if not isinstance(request, dict):
            raise DemoError(400, 'request: expected a JSON object')
        task = request.get('task')
        if task not in self.tasks:
            raise DemoError(400, f'task {task!r}: expected one of '
                            f'{sorted(self.tasks)}')
        if self.tasks[task] is not None:
            raise DemoError(400, self.tasks[task])
        prompt = request.get('prompt', next(iter(self.prompts)))
        if prompt not in self.prompts:
            raise DemoError(400, f'prompt {prompt!r}: expected one of '
                            f'{list(self.prompts)}')
        names = parse_vocabulary(request.get('texts', ''))
        resized = False
        if request.get('image') is not None:
            data = request['image']
            if not isinstance(data, str):
                raise DemoError(400, 'image: expected base64 text')
            if data.startswith('data:'):
                data = data.partition(',')[2]
            if len(data) > 4 * (self.max_bytes // 3 + 1) + 4:
                raise DemoError(413, f'upload: larger than the limit of '
                                f'{self.max_upload_mb:g} MB '
                                '(--max-upload-mb)')
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise DemoError(400, 'image: not valid base64')
            image = decode_image(raw, self.max_bytes, self.max_pixels)
            image, resized = fit_side(image, self.max_side)
            source = 'upload'
        elif request.get('scene') is not None:
            try:
                index = int(request['scene'])
            except (TypeError, ValueError):
                raise DemoError(400, f'scene {request["scene"]!r}: expected '
                                'a scene number')
            image = self.scene_image(index)
            source = self.scenes[index]['name']
        else:
            raise DemoError(400, 'no image: upload one or pick a scene')
        panels = []
        for pid in dict.fromkeys([prompt, HAND]):
            panel = dict(prompt=pid, label=self.prompts[pid])
            try:
                with self._lock:
                    start = time.perf_counter()
                    panel['built'] = (task, pid) not in self._cache
                    inferencer = self.inferencer(task, pid)
                    pred = inferencer(image, texts=names)['predictions'][0]
                    picture = inferencer.draw(image, pred)
                    panel['seconds'] = round(time.perf_counter() - start, 3)
                panel.update(predictions=jsonable(task, pred),
                             picture=png_data_url(picture))
            except ValueError as e:
                if pid == prompt:
                    raise DemoError(400, str(e))
                panel['error'] = str(e)  # the comparison only: say why
            panels.append(panel)
        return dict(task=task, names=names, source=source,
                    image=dict(height=int(image.shape[0]),
                               width=int(image.shape[1]), resized=resized),
                    panels=panels)


class _Handler(BaseHTTPRequestHandler):
    server_version = 'pomp_mm-web-demo'
    demo: WebDemo = None  # set by make_server's subclass

    def log_message(self, fmt, *args) -> None:  # one short line a request
        sys.stderr.write(f'[web_demo] {self.command} {self.path.split("?")[0]}'
                         f' {args[1] if len(args) > 1 else ""}\n')

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.send_header('X-Content-Type-Options', 'nosniff')
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: dict) -> None:
        self._send(status, json.dumps(obj).encode(), 'application/json')

    def _fail(self, e: DemoError) -> None:
        self._json(e.status, dict(error=str(e)))

    def do_GET(self) -> None:
        path = self.path.split('?', 1)[0]
        try:
            if path in ('/', '/index.html'):
                with open(PAGE, 'rb') as f:
                    self._send(200, f.read(), 'text/html; charset=utf-8')
            elif path == '/api/options':
                self._json(200, self.demo.options())
            elif path.startswith('/api/scene/') and path.endswith('.png'):
                number = path[len('/api/scene/'):-len('.png')]
                if not number.isdigit():
                    raise DemoError(404, f'{path}: no such scene')
                import cv2
                ok, buf = cv2.imencode('.png',
                                       self.demo.scene_image(int(number)))
                self._send(200, buf.tobytes(), 'image/png')
            else:
                raise DemoError(404, f'{path}: not found')
        except DemoError as e:
            self._fail(e)

    def do_POST(self) -> None:
        path = self.path.split('?', 1)[0]
        try:
            if path != '/api/predict':
                raise DemoError(404, f'{path}: not found')
            try:
                length = int(self.headers.get('Content-Length', ''))
            except ValueError:
                raise DemoError(411, 'request without a Content-Length')
            limit = 4 * (self.demo.max_bytes // 3 + 1) + _BODY_SLACK
            if length > limit:
                self.close_connection = True  # the body is not read
                raise DemoError(413, f'request of {length / 2**20:.2f} MB: '
                                'larger than the upload limit of '
                                f'{self.demo.max_upload_mb:g} MB '
                                '(--max-upload-mb)')
            try:
                request = json.loads(self.rfile.read(length) or b'null')
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise DemoError(400, 'request: not JSON')
            self._json(200, self.demo.predict(request))
        except DemoError as e:
            self._fail(e)
        except Exception as e:  # a bug: one line on the page, trace here
            import traceback
            traceback.print_exc()
            self._json(500, dict(error=f'{type(e).__name__}: {e}'))


def make_handler(demo: WebDemo) -> type:
    return type('Handler', (_Handler, ), dict(demo=demo))


def serve(demo: WebDemo, host: str = '127.0.0.1', port: int = 7860
          ) -> ThreadingHTTPServer:
    """A started-on-demand server (``serve_forever`` it, or run it in a
    thread); ``server.server_address`` has the port it bound."""
    server = ThreadingHTTPServer((host, port), make_handler(demo))
    server.daemon_threads = True
    return server


# -- the command line --------------------------------------------------------
def load_scenes(root: str, limit: int) -> List[dict]:
    """The built-in scenes of a mini-world export at ``root``
    (``images/<split>/*.png`` and ``classes.json``): each one's vocabulary is
    the classes in it (``annotations/``) then others up to eight names."""
    import cv2
    import numpy as np

    from pomp_mm.apis import list_images
    with open(osp.join(root, 'classes.json')) as f:
        classes = json.load(f)['classes']
    out = []
    for path, _ in list_images(osp.join(root, 'images'))[:limit]:
        rel = osp.relpath(path, osp.join(root, 'images'))
        mask = cv2.imread(osp.join(root, 'annotations', rel),
                          cv2.IMREAD_UNCHANGED)
        present = [] if mask is None else [
            classes[i] for i in np.unique(mask).tolist() if i < len(classes)]
        others = [c for c in classes if c not in present]
        out.append(dict(path=path, name=rel,
                        texts=present + others[:max(0, 8 - len(present))]))
    return out


def build_demo(args, defaults: Optional[Callable] = None,
               scenes: Optional[Callable] = None, log=print) -> WebDemo:
    """The :class:`WebDemo` of parsed arguments (bad files: one line)."""
    for path in args.prompt:
        if not osp.isfile(path):
            raise ValueError(f'--prompt {path}: file not found')
    own_model = bool(args.clip_checkpoint or args.model_name)
    if own_model and not (args.clip_checkpoint and args.model_name):
        raise ValueError('give --model-name and --clip-checkpoint together '
                         '(the open_clip name of that CLIP)')
    if not own_model and defaults is None:
        raise ValueError('give --model-name and --clip-checkpoint (no '
                         'default model here)')
    prompts = {}
    if not own_model:
        prompts[DEFAULT] = 'mini-world POMP prompt (default)'
    for i, path in enumerate(args.prompt):
        prompts[f'file{i}'] = osp.basename(path)
    prompts[HAND] = HAND_LABEL
    files = {f'file{i}': p for i, p in enumerate(args.prompt)}
    resolved: Dict[Tuple[str, str], dict] = {}

    def kwargs_for(task: str, pid: str) -> dict:
        if (task, pid) not in resolved:
            det = task == 'det'
            ns = argparse.Namespace(
                task=task, config=args.config if det else None,
                weights=args.weights if det else None,
                clip_checkpoint=None if det else args.clip_checkpoint,
                model_name=None if det else args.model_name,
                prompt=files.get(pid), device=args.device, topk=args.topk,
                min_score=args.min_score, score_thr=args.score_thr,
                dense_mode=args.dense_mode)
            if det and not args.config and own_model:
                raise ValueError('det: no detector; start the demo with '
                                 '--config DET_CFG.py --weights DET.pth')
            kwargs = inferencer_kwargs(ns, _RaisingParser(), defaults)
            if det and pid == DEFAULT and kwargs.get('prompt') is None:
                # a --config detector: the default POMP prompt of cls/seg
                kwargs['prompt'] = kwargs_for('cls', DEFAULT)['prompt']
            if pid == HAND:
                kwargs['prompt'] = None  # ctx_init 'a photo of a'
            resolved[(task, pid)] = kwargs
        return dict(resolved[(task, pid)])

    for task in ('cls', 'seg'):  # builds the default files when absent
        kwargs_for(task, next(iter(prompts)))
    found = []
    if scenes is not None and args.scenes > 0:
        root = osp.join(args.work_dir, 'scenes')
        if not osp.isfile(osp.join(root, 'classes.json')):
            log(f'[web_demo] exporting {args.scenes} mini-world scenes to '
                f'{root}')
            scenes(root, splits=[('test', args.scenes)])
        found = load_scenes(root, args.scenes)
    return WebDemo(kwargs_for, prompts, args.work_dir, found,
                   args.max_upload_mb, args.max_side, args.max_pixels)


def make_server(argv: Optional[Sequence[str]] = None,
                defaults: Optional[Callable] = None,
                scenes: Optional[Callable] = None, log=print
                ) -> Tuple[ThreadingHTTPServer, WebDemo]:
    """Parse ``argv``, build the demo and bind its server (not started)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0 or args.max_side < 1 or args.max_pixels < 1:
        parser.error('--max-upload-mb, --max-side and --max-pixels: '
                     'expected positive values')
    if not 0 <= args.port <= 65535:
        parser.error(f'--port {args.port}: expected 0-65535')
    for flag in ('config', 'weights', 'clip_checkpoint'):
        path = getattr(args, flag)
        if path is not None and not osp.isfile(path):
            parser.error(f'--{flag.replace("_", "-")} {path}: file not found')
    os.makedirs(args.work_dir, exist_ok=True)
    try:
        demo = build_demo(args, defaults, scenes, log)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        parser.error(str(e))
    try:
        server = serve(demo, args.host, args.port)
    except OSError as e:
        sys.exit(f'{PROG}: error: cannot listen on {args.host}:{args.port}: '
                 f'{e.strerror or e}')
    return server, demo


def main(argv: Optional[Sequence[str]] = None,
         defaults: Optional[Callable] = None,
         scenes: Optional[Callable] = None) -> None:
    """Run the demo until Ctrl-C.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        defaults: ``defaults(task, prompt=None) -> kwargs``, the default
            model files (``tools/web_demo.py`` passes
            :func:`pomp_mm.benchmarks.miniworld.defaults.default_files`).
        scenes: ``scenes(root, splits=[('test', n)])`` writes ``n`` scenes
            at ``root`` in the mini-world export layout (``tools/web_demo.py``
            passes :func:`pomp_mm.benchmarks.miniworld.export.export_scenes`).
    """
    server, demo = make_server(argv, defaults, scenes)
    host, port = server.server_address[:2]
    for task, why in demo.tasks.items():
        if why:
            print(f'[web_demo] {task} unavailable: {why}')
    print(f'[web_demo] serving http://{host}:{port}/ (Ctrl-C stops it); '
          f'writing only under {demo.work_dir}', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print('[web_demo] stopped')
    finally:
        server.server_close()

"""tools/web_demo.py (pomp_mm.engine.web_demo): its JSON answers are
PompInferencer's predictions for the same image, vocabulary and prompt
(cls, seg, det; the chosen prompt and the hand template), it refuses
non-images and oversized uploads with a 4xx and one line, writes only into
its work folder and binds 127.0.0.1; and a headless chromium drives the
page (one query per task) and reads the same class names off it."""
import base64
import copy
import http.client
import json
import os
import os.path as osp
import shutil
import threading
import urllib.error
import urllib.request

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config

from pomp_mm.apis import PompInferencer
from pomp_mm.engine import web_demo
from test_apis import _classes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
#: the fixture server's upload limit: a 64 px scene (~10 KB PNG) fits, a
#: 256 px noise picture (~190 KB) does not
LIMIT_MB = 0.05


@pytest.fixture(scope='module')
def detector(tmp_path_factory, scenes, clip_weights, prompt):
    """A random detector (test_apis' det test) trained, as the mini-world's
    is, with a prompt file (so its checkpoint holds no ctx), and the same
    detector with the hand template's ctx in its checkpoint (what a detector
    configured with ``ctx_init='a photo of a'`` saves)."""
    from mmengine.registry import MODELS, init_default_scope

    import pomp_mm.det  # noqa: F401
    folder = tmp_path_factory.mktemp('det')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/miniworld/det_ov.py'))
    head = cfg.model.roi_head.bbox_head
    head.num_classes = 50
    learner = head.cls_predictor_cfg.prompt_learner
    learner.clip = dict(type='FrozenCLIP', model_name='pomp-test-vit',
                        checkpoint=clip_weights, text_only=True)
    learner.prompt_checkpoint = prompt
    learner.ctx_init = None
    cfg.test_dataloader.dataset.data_root = scenes
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    weights = str(folder / 'det.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {},
                'message_hub': {}}, weights)
    assert not any(k.endswith('prompt_learner.ctx')
                   for k in model.state_dict())
    path = str(folder / 'det_cfg.py')
    cfg.dump(path)
    hand = copy.deepcopy(cfg)
    learner = hand.model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner
    learner.update(prompt_checkpoint=None, ctx_init='a photo of a',
                   n_ctx=None)
    hand_model = MODELS.build(hand.model)
    missing = hand_model.load_state_dict(model.state_dict(), strict=False)
    assert [k.split('.')[-1] for k in missing.missing_keys] == ['ctx']
    hand_weights = str(folder / 'det_hand.pth')
    torch.save({'state_dict': hand_model.state_dict(), 'meta': {},
                'message_hub': {}}, hand_weights)
    hand_path = str(folder / 'det_hand_cfg.py')
    hand.dump(hand_path)
    return dict(config=path, weights=weights, hand_config=hand_path,
                hand_weights=hand_weights)


def _start(argv, scenes_root=None):
    """The demo's server in a thread; returns (server, demo, base url)."""
    copy_scenes = None
    if scenes_root is not None:
        def copy_scenes(root, splits):  # the export's layout, no rendering
            assert splits == [('test', 3)]
            shutil.copytree(scenes_root, root)
    server, demo = web_demo.make_server(argv, scenes=copy_scenes,
                                        log=lambda m: None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, demo, 'http://%s:%d' % server.server_address[:2]


def _stop(server):
    server.shutdown()
    server.server_close()


def _tree(folder):
    """Every file under ``folder`` with its size and modification time."""
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            p = osp.join(d, f)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope='module')
def demo(tmp_path_factory, scenes, clip_weights, prompt, detector):
    """The demo on a free port, started from a folder of its own (cwd), its
    work folder beside; ``before`` is the file tree before any request."""
    base = tmp_path_factory.mktemp('demo')
    cwd, work = base / 'cwd', base / 'work'
    cwd.mkdir()
    old = os.getcwd()
    os.chdir(cwd)
    before = _tree(str(base))
    try:
        server, app, url = _start(
            ['--port', '0', '--work-dir', str(work), '--model-name',
             'pomp-test-vit', '--clip-checkpoint', clip_weights, '--prompt',
             prompt, '--config', detector['config'], '--weights',
             detector['weights'], '--score-thr', '0.0', '--scenes', '3',
             '--max-upload-mb', str(LIMIT_MB)], scenes)
        yield dict(url=url, app=app, server=server, base=str(base),
                   work=str(work), before=before)
        _stop(server)
    finally:
        os.chdir(old)


def _get(url):
    with urllib.request.urlopen(url) as r:
        return r.status, r.read()


def _post(url, obj):
    req = urllib.request.Request(url + '/api/predict',
                                 data=json.dumps(obj).encode(),
                                 headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _scene(scenes, i):
    return osp.join(scenes, 'images', 'test', f'{i:05d}.png')


@pytest.fixture(scope='module')
def references(clip_weights, prompt, detector):
    """PompInferencer built here, independently of the demo: the prompt
    file, and the hand template as the learner's own ctx_init computes it
    (cls/seg: no prompt; det: the detector whose checkpoint holds it)."""
    cache = {}

    def get(task, which):
        if (task, which) not in cache:
            if task == 'det':
                kw = dict(model=detector['config'],
                          weights=detector['weights'], prompt=prompt) \
                    if which == 'file0' else dict(
                        model=detector['hand_config'],
                        weights=detector['hand_weights'])
                kw['score_thr'] = 0.0
            else:
                kw = dict(model_name='pomp-test-vit',
                          clip_checkpoint=clip_weights,
                          prompt=prompt if which == 'file0' else None)
                if task == 'seg':
                    kw['dense_mode'] = 'value'
            cache[task, which] = PompInferencer(task, **kw)
        return cache[task, which]
    return get


def _same(task, got, want):
    """The demo's JSON prediction is the inferencer's: the same names
    (and label map) exactly; scores as rounded to 6 digits by to_dict, so
    equal up to one unit of that rounding."""
    if task == 'cls':
        assert got['labels'] == want['labels']
        np.testing.assert_allclose(got['scores'], want['scores'], atol=1e-6)
    elif task == 'seg':
        label = cv2.imdecode(np.frombuffer(base64.b64decode(
            got['label_map_png']), np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(label, want['label_map'])
        assert got['present'] == want['present']
        assert got['classes'] == want['classes']
    else:
        assert got['label_names'] == want['label_names']
        assert got['labels'] == want['labels']
        assert len(got['scores']) > 0
        np.testing.assert_allclose(got['scores'], want['scores'], atol=1e-6)
        np.testing.assert_allclose(got['bboxes'], want['bboxes'], atol=0.01)


def test_binds_localhost_by_default(demo):
    assert web_demo.build_parser().parse_args([]).host == '127.0.0.1'
    assert web_demo.build_parser().parse_args([]).port == 7860
    assert demo['server'].server_address[0] == '127.0.0.1'
    status, body = _get(demo['url'] + '/api/options')
    options = json.loads(body)
    assert status == 200
    assert [t['id'] for t in options['tasks'] if t['available']] == \
        ['cls', 'seg', 'det']
    assert [p['id'] for p in options['prompts']] == ['file0', 'hand']
    assert len(options['scenes']) == 3
    status, page = _get(demo['url'] + '/')
    # one page, nothing fetched from elsewhere
    assert status == 200 and b'/api/predict' in page
    assert b'http://' not in page and b'https://' not in page


@pytest.mark.parametrize('task', ['cls', 'seg', 'det'])
def test_answers_are_the_inferencers(demo, references, scenes, task):
    classes = _classes(scenes)[:6]
    typed = ', '.join(classes[:3]) + '\n' + '\n'.join(classes[3:])
    status, answer = _post(demo['url'], dict(task=task, prompt='file0',
                                             texts=typed, scene=1))
    assert status == 200, answer
    assert answer['names'] == classes
    image = mmcv.imread(_scene(scenes, 1), channel_order='bgr')
    assert [p['prompt'] for p in answer['panels']] == ['file0', 'hand']
    preds = {}
    for panel in answer['panels']:
        want = references(task, panel['prompt'])(
            _scene(scenes, 1), texts=classes)['predictions'][0]
        _same(task, panel['predictions'], want)
        assert panel['picture'].startswith('data:image/png;base64,')
        preds[panel['prompt']] = want
        drawn = cv2.imdecode(np.frombuffer(base64.b64decode(
            panel['picture'].split(',', 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(
            drawn, references(task, panel['prompt']).draw(image, want))
    # the two prompts answer differently (a swap would be seen)
    key = dict(cls='scores', seg='present', det='scores')[task]
    assert preds['file0'][key] != preds['hand'][key]


def test_upload_is_decoded_not_named(demo, references, scenes):
    with open(_scene(scenes, 2), 'rb') as f:
        data = base64.b64encode(f.read()).decode()
    status, answer = _post(demo['url'], dict(
        task='cls', prompt='hand', texts='coco', filename='../../evil.png',
        image='data:image/png;base64,' + data))
    assert status == 200, answer
    assert answer['source'] == 'upload'
    assert len(answer['names']) == 80  # the built-in list
    assert len(answer['panels']) == 1  # the hand template itself
    want = references('cls', 'hand')(_scene(scenes, 2), texts='coco')
    _same('cls', answer['panels'][0]['predictions'], want['predictions'][0])
    assert not osp.exists(osp.join(demo['base'], 'evil.png'))


def test_rejects_bad_uploads(demo, prompt):
    url = demo['url']
    text = base64.b64encode(b'not an image, only text\n' * 20).decode()
    status, answer = _post(url, dict(task='cls', texts='a, b', image=text,
                                     filename='fake.png'))
    assert status == 415 and 'not an image' in answer['error']
    rng = np.random.RandomState(0)
    ok, noise = cv2.imencode('.png', rng.randint(0, 256, (256, 256, 3),
                                                 dtype=np.uint8))
    assert len(noise) > LIMIT_MB * 2**20
    status, answer = _post(url, dict(task='cls', texts='a, b',
                                     image=base64.b64encode(noise).decode()))
    assert status == 413 and 'larger than the limit' in answer['error']
    # a huge body is refused from its header, before it is read
    host, port = demo['server'].server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest('POST', '/api/predict')
    conn.putheader('Content-Length', str(10**9))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert 'larger than the upload limit' in json.loads(
        response.read())['error']
    conn.close()
    # a typed vocabulary is names, never a file to open
    status, answer = _post(url, dict(task='cls', texts=prompt, scene=0))
    assert status == 200 and answer['names'] == [prompt]
    for bad, words in ((dict(task='cls', texts=' , \n', scene=0),
                        'no class name'),
                       (dict(task='xyz', texts='a', scene=0), 'task'),
                       (dict(task='cls', texts='a', scene=7), 'scene 7'),
                       (dict(task='cls', texts='a', prompt='/etc/passwd',
                             scene=0), 'prompt'),
                       (dict(task='cls', texts='a, a', scene=0),
                        "'a' appears twice")):
        status, answer = _post(url, bad)
        assert 400 <= status < 500 and words in answer['error'], answer


def test_writes_only_in_work_dir(demo, scenes):
    _post(demo['url'], dict(task='seg', prompt='file0', texts='a, b',
                            scene=0))
    after = _tree(demo['base'])
    changed = [p for p, v in after.items() if demo['before'].get(p) != v]
    assert changed  # the exported scenes
    outside = [p for p in changed
               if not p.startswith(demo['work'] + os.sep)]
    assert outside == []
    assert all(p.startswith(osp.join(demo['work'], 'scenes') + os.sep)
               for p in changed)


def test_no_detector_is_one_line(tmp_path, clip_weights, prompt):
    server, app, url = _start(
        ['--port', '0', '--work-dir', str(tmp_path / 'w'), '--model-name',
         'pomp-test-vit', '--clip-checkpoint', clip_weights, '--prompt',
         prompt])
    try:
        options = json.loads(_get(url + '/api/options')[1])
        det = [t for t in options['tasks'] if t['id'] == 'det'][0]
        assert not det['available'] and '--weights' in det['message']
        status, answer = _post(url, dict(task='det', texts='a', scene=0))
        assert status == 400 and '--weights' in answer['error']
    finally:
        _stop(server)
    with pytest.raises(SystemExit):
        web_demo.make_server(['--prompt', str(tmp_path / 'missing.pth'),
                              '--model-name', 'pomp-test-vit',
                              '--clip-checkpoint', clip_weights])


# -- a real browser ----------------------------------------------------------
def _browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip('no chromium/chromedriver found (Debian: apt-get install '
                    'chromium chromium-driver; tools/setup_env.sh does it '
                    'as root)')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu',
                '--disable-dev-shm-usage', '--window-size=1300,1000'):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _query(driver, url, task, scene=None, upload=None, prompt='file0'):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url + '/')
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: d.find_element(By.ID, 'status')
               .get_attribute('data-state') == 'ready')
    Select(driver.find_element(By.ID, 'task')).select_by_value(task)
    Select(driver.find_element(By.ID, 'prompt')).select_by_value(prompt)
    if upload is not None:
        driver.find_element(By.ID, 'upload').send_keys(upload)
    else:
        Select(driver.find_element(By.ID, 'scene')).select_by_value(
            str(scene))
    texts = driver.find_element(By.ID, 'texts').get_attribute('value')
    driver.find_element(By.ID, 'run').click()
    wait.until(lambda d: d.find_element(By.ID, 'status')
               .get_attribute('data-state') in ('done', 'error'))
    names = {}
    for panel in driver.find_elements(By.CSS_SELECTOR, '.panel'):
        names[panel.get_attribute('data-prompt')] = [
            e.text for e in panel.find_elements(By.CSS_SELECTOR,
                                                '.pred-name')]
    message = driver.find_element(By.ID, 'message').text
    return texts, names, message


def test_browser_one_query_per_task(demo, references, scenes, tmp_path):
    driver = _browser()
    try:
        for i, task in enumerate(('cls', 'seg', 'det')):
            upload = _scene(scenes, 0) if task == 'seg' else None
            texts, names, message = _query(driver, demo['url'], task,
                                           scene=i if upload is None
                                           else None, upload=upload)
            scene = 0 if upload else i
            vocabulary = web_demo.parse_vocabulary(texts)
            assert vocabulary == demo['app'].scenes[scene]['texts']
            assert sorted(names) == ['file0', 'hand'], message
            for prompt, shown in names.items():
                want = references(task, prompt)(
                    _scene(scenes, scene), texts=vocabulary)
                pred = want['predictions'][0]
                if task == 'cls':
                    expected = pred['labels']
                elif task == 'seg':  # the table: by pixel count
                    expected = [n for n, _ in sorted(
                        pred['present'].items(), key=lambda kv: -kv[1])]
                else:
                    expected = pred['label_names']
                assert shown == expected, (task, prompt)
            shot = tmp_path / f'web_demo_{task}.png'
            driver.save_screenshot(str(shot))
            assert cv2.imread(str(shot)) is not None
        # a text file named .png: the page shows the server's one line
        fake = tmp_path / 'fake.png'
        fake.write_text('not an image\n')
        _, names, message = _query(driver, demo['url'], 'cls',
                                   upload=str(fake))
        assert names == {} and 'not an image' in message
    finally:
        driver.quit()

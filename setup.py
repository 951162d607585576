import os.path as osp

from setuptools import find_packages, setup

here = osp.dirname(osp.abspath(__file__))
version = {}
with open(osp.join(here, 'pomp_mm', 'version.py')) as f:
    exec(f.read(), version)

setup(
    name='pomp_mm',
    version=version['__version__'],
    description='POMP prompt pre-training of CLIP for mmpretrain, mmseg and '
    'mmdet',
    long_description=open(osp.join(here, 'README.md')).read()
    if osp.exists(osp.join(here, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['pomp_mm', 'pomp_mm.*']),
    py_modules=['pomp_mm_tvfix'],
    include_package_data=True,
    # pomp_mm/.mim/configs links to configs/: a wheel carries the configs
    # where MMEngine and mim look for an OpenMMLab package's configs, and
    # pomp_mm.config_path() finds them (editable installs read the link)
    package_data={'pomp_mm': ['model_configs/*.json', 'cls/classnames/*.txt',
                           'det/classnames/*.txt', 'det/classnames/*.tsv',
                           '.mim/configs/**/*.py',
                           'engine/web_demo.html']},
    python_requires='>=3.10',
    install_requires=[
        'torch>=2.0', 'mmengine>=0.10,<1.0', 'open_clip_torch>=3.0',
        'numpy', 'pillow'
    ],
    extras_require={
        'all': ['mmcv>=2.0,<2.2', 'mmdet>=3.3', 'mmsegmentation>=1.2',
                'mmpretrain>=1.2'],
        'tests': ['pytest'],
    },
    zip_safe=False,
)

"""Store the image features of a training config once, for repeated runs
(``cache_image_features.py CONFIG --epochs E [--out DIR] [--dtype fp16]``).

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.engine.cache_image_features`;
``python tools/cache_image_features.py --help`` lists the options.
"""
from pomp_mm.engine.cache_image_features import main

if __name__ == '__main__':
    main()

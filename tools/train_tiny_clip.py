"""Train the mini-world's tiny CLIP contrastively on generated image-captions.

A thin command line: usage, options and what it does are in the docstring
of :mod:`pomp_mm.benchmarks.miniworld.tiny_clip`;
``python tools/train_tiny_clip.py --help`` lists the options.
"""
from pomp_mm.benchmarks.miniworld.tiny_clip import main

if __name__ == '__main__':
    main()

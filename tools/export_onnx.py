# Copyright (c) pomp_mm contributors. All rights reserved.
"""Export a POMP prompt to ONNX for deployment without PyTorch
(``export_onnx.py --task cls-image|text ... --out model.onnx``).

A thin command line: the graphs, their input contract, the exporter, the
verification with onnxruntime and ``--benchmark`` are described in the
docstring of :mod:`pomp_mm.apis.export`; ``python tools/export_onnx.py
--help`` lists the options; ``docs/onnx.md`` has the recipes.
"""
from pomp_mm.apis.export import main

if __name__ == '__main__':
    main()

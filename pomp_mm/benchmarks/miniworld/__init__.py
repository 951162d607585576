"""The mini-world: a no-download synthetic world and its datasets.

Importing this package registers, in mmpretrain's ``DATASETS``,
``MiniWorldClassification`` and ``MiniWorldCaptions``. The scene export
(:mod:`.export`) and the mmseg / mmdet readers of its files (:mod:`.seg`,
:mod:`.det`) are imported on their own, so a classification run does not
import mmseg or mmdet.
"""
from .captions import MiniWorldCaptions
from .datasets import MiniWorldClassification, resolve_classes
from .splits import TARGETS, class_pools, target_classes
from .world import (NUM_CLASSES, Scene, SceneObject, caption, class_attributes,
                    class_id, class_name, object_box, object_polygon,
                    render_scene, sample_scene)

__all__ = [
    'MiniWorldClassification', 'MiniWorldCaptions', 'resolve_classes',
    'TARGETS', 'class_pools', 'target_classes', 'NUM_CLASSES', 'Scene',
    'SceneObject', 'caption', 'class_attributes', 'class_id', 'class_name',
    'object_box', 'object_polygon', 'render_scene', 'sample_scene'
]

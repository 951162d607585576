"""The mini-world: a no-download synthetic world and its datasets."""
from .datasets import MiniWorldClassification, resolve_classes
from .splits import TARGETS, class_pools, target_classes
from .world import (NUM_CLASSES, Scene, SceneObject, caption, class_attributes,
                    class_id, class_name, object_box, object_polygon,
                    render_scene, sample_scene)

__all__ = [
    'MiniWorldClassification', 'resolve_classes', 'TARGETS', 'class_pools',
    'target_classes', 'NUM_CLASSES', 'Scene', 'SceneObject', 'caption',
    'class_attributes', 'class_id', 'class_name', 'object_box',
    'object_polygon', 'render_scene', 'sample_scene'
]

# Runtime shared by the pomp_mm segmentation configs (mmseg scope). The model
# and schedule come from _base_/pomp_maskclip.py or _base_/zsseg_maskformer.py
# and the data from _base_/{voc_15_5,coco-stuff164k_156_15}.py or mmseg's own
# dataset bases.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['pomp_mm.seg'], allow_failed_imports=False)
default_scope = 'mmseg'

custom_hooks = [
    dict(type='VocabularyHook'),        # train: seen classes; test: all
    dict(type='PromptCheckpointHook'),  # prompt files, official format
    dict(type='NonFiniteCheckHook'),    # stop at the first NaN/Inf loss
]
env_cfg = dict(cudnn_benchmark=False)
log_processor = dict(by_epoch=False)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook + atomic writes, safe --resume, work-dir lock
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval=1600, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # draw=True (--cfg-options default_hooks.visualization.draw=True
    # default_hooks.visualization.interval=1) writes GT | prediction images
    # with class names (SegLocalVisualizer) under work_dir/*/vis_data
    visualization=dict(type='SegVisualizationHook', draw=False))

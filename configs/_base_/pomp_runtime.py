# Runtime shared by every pomp_mm classification / pre-training config.
# The model, its data and schedule come from the config that inherits this.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['pomp_mm.core', 'pomp_mm.cls'],
                      allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook + atomic writes, safe --resume, work-dir lock
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # mmpretrain's hook, drawing RGB colours and legible labels (--show-dir)
    visualization=dict(type='PompClsVisualizationHook', enable=False),
)
custom_hooks = [
    dict(type='VocabularyHook'),        # class names from the datasets
    dict(type='PromptCheckpointHook'),  # prompt_epoch_{n}.pth, official fmt
    dict(type='RandomStateHook'),       # bit-exact --resume (docs/reliability.md)
    dict(type='NonFiniteCheckHook'),    # stop at the first NaN/Inf loss or ctx
]
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
# Every rank builds the model from the same seed; RandomStateHook then moves
# rank r's RNGs to seed + r, so the ranks draw independent augmentations.
randomness = dict(seed=42, deterministic=False)

# The model's default data_preprocessor is CLIP's (RGB, mean/std x 255,
# mmpretrain SelfSupDataPreprocessor, which also takes MultiView lists).

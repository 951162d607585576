# The n_ctx=4 paper recipe under MMEngine's FlexibleRunner with DeepSpeed
# (ZeRO stage 1). UNTESTED here (no GPU, DeepSpeed not installed); the config
# is checked to parse. POMP trains a few-KB prompt, so ZeRO saves almost
# nothing over DDP; this is for clusters that standardise on DeepSpeed.
#   pip install deepspeed
#   bash tools/dist_train.sh configs/pomp/dist/pomp_vit-b16_nctx4_ep5_in21k_deepspeed.py 8
_base_ = ['../pomp_vit-b16_nctx4_ep5_in21k.py']

runner_type = 'FlexibleRunner'
strategy = dict(
    type='DeepSpeedStrategy',
    # fp32: FrozenCLIP keeps its own precision (model.prompt_learner.clip
    # .precision='fp16' halves CLIP, with fp32 LayerNorm)
    zero_optimization=dict(stage=1),
    train_micro_batch_size_per_gpu=32,
    gradient_accumulation_steps=1,
    exclude_frozen_parameters=True)  # checkpoints hold ctx, not CLIP
# the recipe's optimizer (SGD 0.002, momentum 0.9, wd 5e-4), stepped by
# DeepSpeed
optim_wrapper = dict(type='DeepSpeedOptimWrapper')

# The n_ctx=4 paper recipe under MMEngine's FlexibleRunner with FSDP, for
# GPUs whose memory CLIP's frozen towers must be sharded over (ViT-L/14 or
# larger). UNTESTED here (no GPU); the config is checked to parse.
#   bash tools/dist_train.sh configs/pomp/dist/pomp_vit-b16_nctx4_ep5_in21k_fsdp.py 8
_base_ = ['../pomp_vit-b16_nctx4_ep5_in21k.py']

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        type='MMFullyShardedDataParallel',
        # frozen CLIP weights and the trainable ctx share FSDP units
        use_orig_params=True,
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            min_num_params=int(1e7))),
    # rank 0 writes ordinary (unsharded) checkpoints, so the prompt files,
    # RandomStateHook and --resume work as with DDP
    state_dict_cfg='full')

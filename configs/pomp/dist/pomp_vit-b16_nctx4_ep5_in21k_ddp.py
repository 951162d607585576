# The n_ctx=4 paper recipe with MMEngine's DDP spelled out (the default
# wrapper of every pomp_mm config when launched with tools/dist_train.sh):
#   bash tools/dist_train.sh configs/pomp/dist/pomp_vit-b16_nctx4_ep5_in21k_ddp.py 8
# Each rank draws its own K-1 negatives per step and DDP averages the ctx
# gradients, as the paper's code (docs/reliability.md).
_base_ = ['../pomp_vit-b16_nctx4_ep5_in21k.py']

# only ctx is trained and every step uses it: no unused parameters;
# CLIP's buffers are identical on every rank, so none are broadcast
model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                         broadcast_buffers=False,
                         find_unused_parameters=False)
env_cfg = dict(dist_cfg=dict(backend='nccl'))  # gloo is picked on CPU
# workers restarted each epoch: RandomStateHook re-seeds them per epoch, so
# --resume after a crash ends bit-exact (persistent workers cannot be)
train_dataloader = dict(persistent_workers=False)

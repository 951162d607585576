# CoOp on a mini-world target's seen classes (8 shots, full softmax), the
# baseline POMP is compared with. tools/miniworld.py sets the target.
_base_ = ['./pomp_source.py']

target = 'mixed200'
model = dict(loss=dict(num_classes_per_step=None))  # full softmax = CoOp
train_dataloader = dict(
    batch_size=32,
    dataset=dict(split=target, subset='seen', images_per_class=8,
                 sample_seed=11))
val_dataloader = dict(
    dataset=dict(split=target, subset='seen', images_per_class=4,
                 sample_seed=12, max_classes=None))
test_dataloader = val_dataloader
max_epochs = 10
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0,
         by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=10))

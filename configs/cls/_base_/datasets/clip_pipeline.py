# CLIP's evaluation pipeline, shared by every transfer dataset config:
# resize the short side to 224 (bicubic), centre crop 224 (the official
# POMP / CoOp test transform); CLIP's mean/std are in the model's
# data_preprocessor. The few-shot training pipeline (CoOp baseline, linear
# probe) uses the same deterministic crop: CLIP's linear probe fits frozen
# features of un-augmented images.
image_size = 224
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=image_size, edge='short',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='PackInputs'),
]
train_pipeline = test_pipeline

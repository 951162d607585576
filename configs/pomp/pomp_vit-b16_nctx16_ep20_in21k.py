# Released prompt #2 of the paper: n_ctx=16, 20 epochs (cross-dataset 65.1,
# cross-domain 60.0; the prompt the segmentation and detection results use).
# 8 GPUs: bash tools/dist_train.sh THIS 8
_base_ = ['../_base_/pomp_runtime.py', '../_base_/pomp_in21k_vit-b16.py']

n_ctx = 16
max_epochs = 20
model = dict(prompt_learner=dict(n_ctx=n_ctx))
train_cfg = dict(max_epochs=max_epochs)

# mmseg's SAN (ViT-B/16, COCO-Stuff-164k 171 classes) with the POMP prompt as
# its text classifier instead of CLIP's hand templates: PompTextEncoder is a
# drop-in text_encoder of MultimodalEncoderDecoder ((N+1, C) scaled, with a
# learnable background row). Everything else is mmseg's SAN recipe.
#   python tools/train.py THIS_CONFIG      # needs SAN's converted CLIP file
#   python tools/test.py THIS_CONFIG work_dirs/.../iter_60000.pth
_base_ = ['mmseg::san/san-vit-b16_coco-stuff164k-640x640.py']
custom_imports = dict(imports=['pomp_mm.seg'], allow_failed_imports=False)
# mmseg's CheckpointHook + atomic writes, safe --resume, work-dir lock
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
custom_hooks = [dict(type='NonFiniteCheckHook')]  # stop at a NaN/Inf loss

model = dict(
    text_encoder=dict(
        _delete_=True,  # CLIPTextEncoder's own tower arguments do not apply
        type='PompTextEncoder',
        dataset_name='coco-stuff164k',
        cat_bg=True,
        prompt_learner=dict(
            type='PompPromptLearner',
            clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
                      checkpoint='checkpoints/ViT-B-16.pt', text_only=True),
            prompt_checkpoint='checkpoints/pomp/vit_b16_ep20_randaug2_'
            'unc1000_16shots_nctx16_cscFalse_ctpend_seed42.pth.tar',
            freeze=True)))

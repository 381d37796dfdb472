# MixSSL design choice "decoder initialisation": CycleGAN's init_weights
# ('normal', gain 0.02) for the ResnetGenerator decoder instead of PyTorch's
# default: conv and transposed-conv weights ~ N(0, 0.02), batch-norm weights
# ~ N(1, 0.02), every bias 0 (CycleGAN leaves instance norm alone, and so
# does '_BatchNorm'). mmengine applies it in model.init_weights(), which the
# Runner calls before training; a loaded checkpoint overrides it. The
# encoder and the λ regressor keep their own initialisation.
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(
    neck=dict(init_cfg=[
        dict(
            type='Normal',
            layer=['Conv2d', 'ConvTranspose2d'],
            mean=0.0,
            std=0.02,
            bias=0.0),
        dict(type='Normal', layer='_BatchNorm', mean=1.0, std=0.02, bias=0.0),
    ]))

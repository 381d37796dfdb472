# MixSSL with a narrow decoder: the paper recipe
# (mixssl_resnet50_1xb64-20e_bloodmnist.py) with ResnetGenerator(ngf=16,
# res_channels=128, n_blocks=2) instead of CycleGAN's widths (64, 256, 6).
# The full-resolution up-sampling stages dominate the decoder's cost, so the
# step is about half as long (docs/performance.md); in the cpu-small
# benchmark it also fine-tuned at least as well as the paper decoder
# (docs/results.md, "Decoder width"). Not the paper's model: use it where
# pretraining time matters, and say so when you report numbers.
_base_ = ['./mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(neck=dict(ngf=16, res_channels=128, n_blocks=2))

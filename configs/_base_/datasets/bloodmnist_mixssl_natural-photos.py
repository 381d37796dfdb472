# MixSSL pretraining on BloodMNIST with the natural photo pool as auxiliary
# set: 4096 distinct crops of 62 photographs from pinned Debian packages
# (NaturalPhotoFolder; sources, checksums, licences: docs/data.md). Fetch
# both first:
#   python tools/data/fetch_bloodmnist.py
#   python tools/data/fetch_natural_photos.py
# Otherwise bloodmnist_mixssl.py, whose 16-photo NaturalPhotoPool needs no
# download (the tests' and quick starts' pool). Use it in a config with
#   _base_ = ['../_base_/datasets/bloodmnist_mixssl_natural-photos.py', ...]
# (R+A: aux_head.num_classes=62, one class per photo).
_base_ = ['./bloodmnist_mixssl.py']

# the parent's view pipeline and training pipeline, read from the parent
# (mmengine gives a Python config its bases as ``_base_``), with only the
# auxiliary pool replaced: nothing restated can drift from it
aux_dataset = dict(
    type='NaturalPhotoFolder',
    data_root='data/natural_photos/',
    num_crops=4096,
    with_label=True,
    pipeline=_base_.view_pipeline)

train_pipeline = [
    dict(t, aux_dataset=aux_dataset) if t['type'] == 'CrossDomainMixup' else t
    for t in _base_.train_pipeline
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# MixSSL pretraining on the Kaggle blood-cell images
# (dataset2-master/images/TRAIN/<CLASS>/*.jpeg) with Imagenette
# (imagenette2/train/<wnid>/*.JPEG) as auxiliary set — the paper's setting.
_base_ = ['./imagefolder_mixssl.py']

train_dataloader = dict(
    dataset=dict(
        data_root='data/blood-cell/dataset2-master/images/',
        data_prefix='TRAIN'))

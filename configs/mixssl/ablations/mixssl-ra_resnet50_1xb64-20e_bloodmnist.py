# MixSSL ablation, Table 3 row "R+A": reconstruction plus predicting the
# class of the auxiliary image mixed into each sample
# (L = L_rec + γ·L_aux, γ = 1). The auxiliary pool of the main config,
# NaturalPhotoPool(with_label=True), labels each photo by its source photo:
# 16 classes. With Imagenette as the pool (aux_dataset=dict(
# type='CustomDataset', data_root='data/imagenette2/train', with_label=True,
# ...)), set model.aux_head.num_classes=10. MixSSL refuses a num_classes
# that differs from the pool's class count. The transparency head is not
# built (use_trans=False). The objective is the subclass MixSSLAux.
# For a ResNet-18/34 encoder also set model.aux_head.in_channels=512.
_base_ = ['../mixssl_resnet50_1xb64-20e_bloodmnist.py']

model = dict(
    type='MixSSLAux',
    use_rec=True,
    use_trans=False,
    # reads the pooled encoder features of the mixed image
    aux_head=dict(
        type='LinearClsHead',
        num_classes=16,  # NaturalPhotoPool's photos
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))  # γ = 1

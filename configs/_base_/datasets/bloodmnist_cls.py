# Supervised BloodMNIST (fine-tuning / linear probe / test), all 8 classes.
# For the paper's 4-class task set classes_subset=(1, 4, 5, 6) in every split
# (see bloodmnist-4cls_cls.py).
data_root = 'data/medmnist/'
num_classes = 8
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

img_size = 224
train_pipeline = [
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(img_size, img_size), backend='pillow'),
    dict(type='PackInputs'),
]

dataset = dict(type='MedMNIST', data_root=data_root, ann_file='bloodmnist.npz')
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**dataset, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, split='val', pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, split='test', pipeline=test_pipeline))

# Table 1 (per-class accuracy) and Table 2 (macro P/R/F1, ROC-AUC) metrics
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='SingleLabelMetric', average='macro'),
    dict(type='PerClassAccuracy'),
    dict(type='ROCAUC'),
]
test_evaluator = val_evaluator

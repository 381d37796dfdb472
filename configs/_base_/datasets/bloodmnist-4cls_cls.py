# The paper's 4-class blood-cell task on BloodMNIST: eosinophil, lymphocyte,
# monocyte, neutrophil (BloodMNIST labels 1, 4, 5, 6).
_base_ = ['./bloodmnist_cls.py']
num_classes = 4
classes_subset = (1, 4, 5, 6)
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(classes_subset=classes_subset))
val_dataloader = dict(dataset=dict(classes_subset=classes_subset))
test_dataloader = dict(dataset=dict(classes_subset=classes_subset))

# Fine-tune on all 8 BloodMNIST classes (the paper's protocol otherwise).
_base_ = ['./resnet50_1xb64-20e_bloodmnist-4cls_finetune.py']

num_classes = 8
data_preprocessor = dict(num_classes=num_classes)
model = dict(head=dict(num_classes=num_classes))
train_dataloader = dict(dataset=dict(classes_subset=None))
val_dataloader = dict(dataset=dict(classes_subset=None))
test_dataloader = dict(dataset=dict(classes_subset=None))

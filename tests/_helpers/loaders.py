"""The train dataloader config of the tiny in-process runs: a folder of
images (mmpretrain's CustomDataset, no labels), shuffled, no workers."""


def image_folder_loader(data_root, pipeline, batch_size) -> dict:
    """``train_dataloader`` over the images in ``data_root``."""
    return dict(
        batch_size=batch_size,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        dataset=dict(
            type='CustomDataset',
            data_root=str(data_root),
            with_label=False,
            pipeline=pipeline))

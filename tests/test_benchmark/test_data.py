"""mixssl_mm.benchmark.data: the target data read off generated folders
and files (both folder layouts, MedMNIST files with other classes), the
task chosen from the options, and the refusals before any stage."""
import pytest

from mixssl_mm.benchmark.data import (choose_task, find_target, positive_index,
                                      read_aux)
from tests._helpers.image_folders import (write_flat_folder, write_npz,
                                          write_split_folders)

CELLS = ['basophil', 'eosinophil', 'lymphocyte']


def test_imagenet_style_folders(tmp_path):
    root = write_split_folders(tmp_path / 'cells', CELLS,
                               dict(train=5, val=2, test=3))
    t = find_target(root, None)
    assert (t.kind, t.name, t.classes) == ('folder', 'cells', CELLS)
    assert t.splits == dict(test='test', train='train', val='val')
    assert t.counts == dict(train=[5, 5, 5], val=[2, 2, 2], test=[3, 3, 3])
    assert t.files['test'][0] == ('basophil/000.png', 0)
    assert 'ImageNet-style' in t.layout
    task = choose_task(t)
    assert (task.ids, task.classes, task.paper) == ([0, 1, 2], CELLS, None)


def test_kaggle_layout_is_named_by_its_parent(tmp_path):
    root = tmp_path / 'blood-cell' / 'dataset2-master' / 'images'
    write_split_folders(root, ['EOSINOPHIL', 'NEUTROPHIL'],
                        dict(TRAIN=4, TEST=2, TEST_SIMPLE=1))
    t = find_target(str(root), None)
    assert t.name == 'dataset2-master' and t.splits['train'] == 'TRAIN'
    assert t.classes == ['EOSINOPHIL', 'NEUTROPHIL'] and 'Kaggle' in t.layout
    # subsets by name or by id (the sorted class folders), in given order
    assert choose_task(
        t, subset=['NEUTROPHIL', '0']).classes == ['NEUTROPHIL', 'EOSINOPHIL']


def test_folders_that_do_not_fit_are_refused(tmp_path):
    flat = write_split_folders(tmp_path / 'flat', CELLS, {'.': 2})
    with pytest.raises(SystemExit, match='needs split folders'):
        find_target(flat, None)
    odd = write_split_folders(tmp_path / 'odd', CELLS, dict(train=2))
    write_split_folders(tmp_path / 'odd', CELLS[:2] + ['monocyte'],
                        dict(test=2))
    with pytest.raises(
            SystemExit,
            match=r"missing: \['lymphocyte'\], "
            r"extra: \['monocyte'\]"):
        find_target(odd, None)
    one = write_split_folders(tmp_path / 'one', CELLS[:1],
                              dict(train=2, test=2))
    with pytest.raises(SystemExit, match='at least 2'):
        find_target(one, None)


def test_a_class_without_test_images_is_refused_with_the_counts(tmp_path):
    root = write_split_folders(tmp_path / 'c', CELLS, dict(train=3, test=2))
    for f in (tmp_path / 'c' / 'test' / 'lymphocyte').iterdir():
        f.unlink()
    t = find_target(str(root), None)
    with pytest.raises(SystemExit) as e:
        choose_task(t)
    assert "['lymphocyte']" in str(e.value)
    assert 'lymphocyte (id 2; 3 train, 0 test)' in str(e.value)
    assert choose_task(t, subset=['basophil', 'eosinophil']).ids == [0, 1]


def test_other_medmnist_file_uses_its_own_classes(tmp_path):
    path = write_npz(
        tmp_path / 'dermamnist.npz',
        dict(
            train=list(range(7)) * 3, val=list(range(7)), test=list(range(7))))
    t = find_target(None, str(path))
    assert (t.kind, t.name, len(t.classes)) == ('npz', 'DermaMNIST', 7)
    assert t.classes[0] == 'class_0' and not t.is_bloodmnist
    task = choose_task(t)  # all 7, not BloodMNIST's labels 1, 4, 5, 6
    assert (task.ids, task.paper) == (list(range(7)), None)
    # a --num-classes that does not match is refused with what is there
    for n in (4, 10):
        with pytest.raises(SystemExit) as e:
            choose_task(t, num_classes=n)
        assert f'--num-classes {n} does not match' in str(e.value)
        assert 'DermaMNIST has 7 classes' in str(e.value)
        assert 'class_6 (id 6; 3 train, 1 test)' in str(e.value)
    assert choose_task(t, num_classes=7).num_classes == 7
    with pytest.raises(SystemExit, match='picks a BloodMNIST task'):
        choose_task(t, classes='4')
    with pytest.raises(SystemExit, match='--classes-subset 9: no such'):
        choose_task(t, subset=['2', '9'])
    with pytest.raises(SystemExit, match='names a class twice'):
        choose_task(t, subset=['2', 'class_2'])


def test_bloodmnist_runs_8_classes_and_the_paper_task_on_request(tmp_path):
    path = write_npz(tmp_path / 'bloodmnist_64.npz',
                     dict(train=list(range(8)) * 2, test=list(range(8))))
    t = find_target(str(tmp_path), 'bloodmnist_64.npz')
    assert t.is_bloodmnist and t.name == 'BloodMNIST (64 px)'
    default = choose_task(t)  # all 8 classes: the task with headroom
    assert (default.ids, default.paper) == (list(range(8)), '8')
    assert choose_task(t, classes='8') == default
    paper = choose_task(t, classes='4')
    assert (paper.ids, paper.paper) == ([1, 4, 5, 6], '4')
    assert paper.classes == [
        'eosinophil', 'lymphocyte', 'monocyte', 'neutrophil'
    ]
    assert choose_task(t, classes='4', num_classes=4) == paper
    with pytest.raises(SystemExit, match='BloodMNIST \\(64 px\\) has 8'):
        choose_task(t, num_classes=4)
    # a file named like BloodMNIST with other classes is not BloodMNIST
    write_npz(path, dict(train=[0, 1, 2] * 2, test=[0, 1, 2]))
    other = find_target(None, path)
    assert not other.is_bloodmnist and other.classes == [
        'class_0', 'class_1', 'class_2'
    ]


def test_missing_or_unusable_files_are_refused(tmp_path):
    with pytest.raises(SystemExit, match='fetch_bloodmnist'):
        find_target(str(tmp_path), None)
    bad = write_npz(tmp_path / 'x.npz', dict(train=[0, 1]))
    with pytest.raises(SystemExit, match=r"lacks \['test_images'"):
        find_target(None, bad)
    # numpy's own message for a text file suggested allow_pickle
    (tmp_path / 'notes.npz').write_text('text')
    with pytest.raises(SystemExit) as e:
        find_target(None, str(tmp_path / 'notes.npz'))
    assert 'notes.npz is no .npz archive numpy can read (neither a zip ' \
        'archive nor an .npy array)' in str(e.value)
    assert 'allow_pickle' not in str(e.value)


def test_classes_and_classes_subset_together_are_refused(tmp_path):
    # --classes-subset won and --classes was dropped without a word
    write_npz(tmp_path / 'bloodmnist.npz',
              dict(train=list(range(8)) * 2, test=list(range(8))))
    t = find_target(str(tmp_path), None)
    with pytest.raises(SystemExit, match='both choose the classes'):
        choose_task(t, classes='4', subset=['1', '2'])


def test_positive_class(tmp_path):
    root = write_split_folders(tmp_path / 'cin', ['CIN1', 'CIN2+'],
                               dict(train=2, test=2))
    task = choose_task(find_target(root, None))
    assert positive_index(task, None) == 1
    assert positive_index(task, 'CIN1') == 0
    assert positive_index(task, '0') == 0
    with pytest.raises(SystemExit, match='0 = CIN1, 1 = CIN2\\+'):
        positive_index(task, 'HSIL')
    three = choose_task(
        find_target(
            write_split_folders(tmp_path / 'c3', CELLS, dict(train=2, test=2)),
            None))
    assert positive_index(three, None) is None
    with pytest.raises(SystemExit, match='belongs to a binary task'):
        positive_index(three, 'basophil')


def test_aux_folders_with_and_without_labels(tmp_path):
    labelled = read_aux(
        write_split_folders(tmp_path / 'inet', ['n01', 'n02'], {'.': 3}))
    assert labelled.classes == ['n01', 'n02'] and labelled.num_images == 6
    flat = read_aux(write_flat_folder(tmp_path / 'photos', 4))
    assert flat.classes is None and flat.num_images == 4
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match='holds no image'):
        read_aux(str(tmp_path / 'empty'))
    with pytest.raises(SystemExit, match='no such folder'):
        read_aux(str(tmp_path / 'nowhere'))

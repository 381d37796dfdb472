"""mixssl_mm.utils.paths.file_in_the_way: the file that keeps a folder from
being created (work dirs, --work-dir, the fetchers' --out)."""
from mixssl_mm.utils.paths import file_in_the_way


def test_the_file_a_folder_is_or_lies_in(tmp_path):
    (tmp_path / 'file').write_text('x')
    assert file_in_the_way(str(tmp_path / 'file')) == str(tmp_path / 'file')
    assert file_in_the_way(str(tmp_path / 'file' / 'a' / 'b')) == str(
        tmp_path / 'file')
    assert file_in_the_way(str(tmp_path / 'new' / 'a')) is None
    assert file_in_the_way(str(tmp_path)) is None

"""The README's quick start runs as written, and CI runs the README's test command."""
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def _readme():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        return f.read()


def test_quick_start_runs(tmp_path, monkeypatch, capsys):
    code = re.search(r'```python\n(.*?)```', _readme(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 16
    monkeypatch.chdir(tmp_path)
    exec(compile(code, 'README quick start', 'exec'), {})
    assert capsys.readouterr().out.strip().endswith('(1000, 10)')
    assert sorted(os.listdir(tmp_path)) == ['mlp-0002.json', 'mlp-0002.params',
                                        'mlp-symbol.json']


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(ROOT, '.ci', 'run'), encoding='utf-8') as f:
        ci = f.read()
    assert "grep -A2 '^Run the whole test suite' README.md" in ci
    assert 'Run the whole test suite' in _readme()

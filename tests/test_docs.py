"""The README and docs/ hold together: the sections examples and docs name exist, every example
is listed, links resolve, and nothing points at files a user of the project does not have."""
import glob
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DOCS = sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))
EXAMPLES = sorted(p for p in glob.glob(os.path.join(ROOT, 'examples', '*'))
                  if os.path.isfile(p) and not p.endswith('.pyc'))
#: Sections named after a mention of the README: ``README ("X")``, ``README's "X" and "Y"``
SECTION_REF = re.compile(r'README(?:\'s)?[ (\n]*((?:"[^"\n]+"(?:,? and |, | or )?)+)')


def _named_sections(text):
    return [name for group in SECTION_REF.findall(text) for name in re.findall(r'"([^"]+)"', group)]


def _read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def _rel(path):
    return os.path.relpath(path, ROOT)


def _headings(text):
    return {m.group(1).strip() for m in re.finditer(r'^#{1,6} +(.+)$', text, re.M)}


def test_the_docs_folder_has_the_pages_the_readme_links():
    names = {os.path.basename(p) for p in DOCS}
    assert {'architecture.md', 'coming_from_mxnet.md'} <= names
    readme = _read(os.path.join(ROOT, 'README.md'))
    for name in ('docs/architecture.md', 'docs/coming_from_mxnet.md'):
        assert '](%s)' % name in readme, name


@pytest.mark.parametrize('path', [os.path.join(ROOT, 'README.md')] + DOCS, ids=_rel)
def test_relative_links_resolve(path):
    folder = os.path.dirname(path)
    for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', _read(path)):
        if '://' in target:
            continue
        assert os.path.exists(os.path.join(folder, target)), '%s links %s' % (_rel(path), target)


@pytest.mark.parametrize('path', EXAMPLES + DOCS, ids=_rel)
def test_every_readme_section_named_exists(path):
    sections = _headings(_read(os.path.join(ROOT, 'README.md')))
    named = _named_sections(_read(path))
    missing = [name for name in named if name not in sections]
    assert not missing, '%s names README sections that do not exist: %s (there are: %s)' % (
        _rel(path), missing, sorted(sections))


def test_the_examples_name_readme_sections_in_the_form_the_check_reads():
    # a README mention without a quoted section next to it would escape the check above
    for path in EXAMPLES:
        text = _read(path)
        for m in re.finditer(r'README', text):
            if SECTION_REF.match(text, m.start()) is None:
                line = text.count('\n', 0, m.start()) + 1
                pytest.fail('%s:%d mentions the README without naming a section as '
                            'README ("Section")' % (_rel(path), line))


def test_every_example_file_is_listed_in_the_readme():
    readme = _read(os.path.join(ROOT, 'README.md'))
    assert EXAMPLES
    missing = [_rel(p) for p in EXAMPLES if 'examples/%s' % os.path.basename(p) not in readme]
    assert not missing, 'examples not listed in README.md: %s' % missing


@pytest.mark.parametrize('path', [os.path.join(ROOT, 'README.md')] + DOCS, ids=_rel)
def test_no_mention_of_what_users_do_not_have(path):
    text = _read(path)
    for needle in ('../shared', '/work/', 'shared folder', "project's machine", 'DESIGN.md'):
        assert needle not in text, '%s mentions %r' % (_rel(path), needle)


def test_the_readme_says_multi_rank_runs_need_the_mpi_extra():
    readme = _read(os.path.join(ROOT, 'README.md'))
    section = readme.split('## Data-parallel training', 1)[1].split('\n## ', 1)[0]
    assert "pip install -e '.[mpi]'" in section
    for extra in ('mpi', 'gpu', 'progress', 'test'):
        assert '| `%s` |' % extra in readme, extra


def test_the_readme_extras_are_the_packages():
    try:
        import tomllib
    except ImportError:                     # Python < 3.11
        tomllib = pytest.importorskip('tomli')
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        extras = tomllib.load(f)['project']['optional-dependencies']
    readme = _read(os.path.join(ROOT, 'README.md'))
    listed = set(re.findall(r'^\| `(\w+)` \|', readme, re.M))
    assert listed == set(extras), (listed, sorted(extras))

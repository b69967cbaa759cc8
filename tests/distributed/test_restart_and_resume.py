"""Whole-job recovery, driven from outside (distmod-launch, real processes):

* ``--max-restarts 1 --checkpoint PREFIX`` with a rank SIGKILLed mid-epoch on the first run:
  the job comes back from the newest complete checkpoint and ends with the parameters of an
  uninterrupted run, bit for bit (shuffled data, Dropout, SGD with momentum);
* a job written by 2 ranks resumed by 3: the replicas stay identical and rank 0 says, in
  one line, that the data is sharded afresh;
* a process killed (SIGKILL) at many moments while it saves a checkpoint of tens of MB: the
  newest complete checkpoint always loads with its optimizer states, and once the next save
  is over no temporary file is left.  Each run numbers its epochs from 1 again, so it also
  saves over the epochs of the run before (whose commit point must go first).
"""
import glob
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.launch.helpers import PY, launcher_command, launcher_env, openmpi_missing_reason

SKIP = openmpi_missing_reason()
needs_mpi = pytest.mark.skipif(SKIP is not None, reason=SKIP or '')

TRAIN = textwrap.dedent('''
    import hashlib, logging, os, signal, sys
    import numpy as np
    import distmod as mx
    prefix, epochs = sys.argv[1], int(sys.argv[2])
    logging.basicConfig(level=logging.INFO)
    kill_at = os.environ.get('KILL_AT')          # "rank:epoch:batch", first run only
    rng = np.random.RandomState(0)
    centers = rng.randn(3, 12) * 2
    y = rng.randint(0, 3, 360)
    x = (centers[y] + rng.randn(360, 12)).astype(np.float32)
    data = mx.sym.Variable('data')
    h = mx.sym.Dropout(mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=16,
                                                               name='fc1'), act_type='relu'),
                       p=0.25)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=3, name='fc2'),
                               name='softmax')
    mx.random.seed(7)
    kv = mx.kv.create('dist_sync')

    def maybe_die(param):
        if kill_at and os.environ.get('DISTMOD_RESTART') == '0':
            r, e, b = map(int, kill_at.split(':'))
            if kv.rank == r and param.epoch == e and param.nbatch == b:
                os.kill(os.getpid(), signal.SIGKILL)

    mod = mx.mod.Module(net)
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=20, shuffle=True), num_epoch=epochs,
            kvstore=kv, optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9},
            batch_end_callback=maybe_die, epoch_end_callback=mx.callback.do_checkpoint(prefix))
    arg, aux = mod.get_params()
    digest = hashlib.sha256(b''.join(arg[k].asnumpy().tobytes() for k in sorted(arg)))
    print('PARAMS rank=%d %s' % (kv.rank, digest.hexdigest()), flush=True)
''')


def _launch(tmp_path, n, args, prefix, epochs, **env):
    script = tmp_path / 'train.py'
    script.write_text(TRAIN)
    proc = subprocess.run(launcher_command() + ['-n', str(n)] + args +
                          [PY, str(script), prefix, str(epochs)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=launcher_env(**env), cwd=str(tmp_path), timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    digests = {}
    for line in proc.stdout.splitlines():
        if line.startswith('PARAMS '):
            rank, digest = line.split()[1:]
            digests[int(rank.split('=')[1])] = digest
    assert sorted(digests) == list(range(n)), out[-3000:]
    assert len(set(digests.values())) == 1, digests        # replicas bit-identical
    return digests[0], out


def _file_digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@needs_mpi
def test_a_job_restarted_after_a_rank_is_killed_ends_as_an_uninterrupted_run(tmp_path):
    whole = str(tmp_path / 'whole' / 'mlp')
    os.makedirs(os.path.dirname(whole))
    reference, _ = _launch(tmp_path, 2, [], whole, 4)
    cut = str(tmp_path / 'cut' / 'mlp')
    os.makedirs(os.path.dirname(cut))
    restarted, out = _launch(tmp_path, 2, ['--max-restarts', '1', '--checkpoint', cut], cut, 4,
                             KILL_AT='1:2:5')
    assert 'restart 1 of 1 from checkpoint %s-0002' % cut in out, out[-3000:]
    assert restarted == reference
    assert _file_digest(cut + '-0004.params') == _file_digest(whole + '-0004.params')
    assert _file_digest(cut + '-0004.states') == _file_digest(whole + '-0004.states')


@needs_mpi
def test_a_checkpoint_of_2_ranks_resumes_on_3(tmp_path):
    prefix = str(tmp_path / 'mlp')
    _launch(tmp_path, 2, [], prefix, 2)
    _, out = _launch(tmp_path, 3, ['--checkpoint', prefix], prefix, 4)
    assert 'Resuming from %s-0002 (written by 2 ranks) on 3: the data is sharded afresh' \
        % prefix in out, out[-3000:]
    assert 'Epoch[1]' not in out and 'Epoch[3] Train-accuracy' in out, out[-3000:]
    assert os.path.exists(prefix + '-0004.params')


SAVER = textwrap.dedent('''
    import sys, time
    import numpy as np
    import distmod as mx
    prefix = sys.argv[1]
    # about 24 MB of parameters (and as much again of momentum): a save takes a while
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(
        mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=3000, name='big'),
        num_hidden=2, name='out'), name='softmax')
    x = np.random.RandomState(0).rand(8, 2000).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.float32)
    mod = mx.mod.Module(net)
    mod.bind([('data', (8, 2000))], [('softmax_label', (8,))])
    mod.init_params(mx.init.Uniform(0.01))
    mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.01,
                                                        'momentum': 0.9})
    print('READY', flush=True)
    epoch = 0
    while True:
        epoch += 1
        mod.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
        mod.update()
        mod.save_checkpoint(prefix, epoch, save_optimizer_states=True)
        print('SAVED %d %.6f' % (epoch, time.time()), flush=True)
''')


def test_a_process_killed_while_it_saves_leaves_a_loadable_checkpoint(tmp_path):
    import distmod as mx
    from distmod import model as _model
    script = tmp_path / 'saver.py'
    script.write_text(SAVER)
    prefix = str(tmp_path / 'big')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    # how long one save takes here, then kill at moments spread over a save
    proc = subprocess.Popen([PY, str(script), prefix], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout.readline().strip() == 'READY'
    stamps = [float(proc.stdout.readline().split()[2]) for _ in range(3)]
    proc.kill()
    proc.wait()
    period = max(0.05, (stamps[-1] - stamps[0]) / 2)
    loaded = 0
    for i in range(8):
        proc = subprocess.Popen([PY, str(script), prefix], stdout=subprocess.PIPE, text=True,
                                env=env)
        assert proc.stdout.readline().strip() == 'READY'
        proc.stdout.readline()                          # the first save of this run is over
        time.sleep(period * (i + 0.5) / 8)              # somewhere inside the next one
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        epoch = _model.latest_checkpoint(prefix)
        assert epoch is not None
        mod = mx.mod.Module.load(prefix, epoch, load_optimizer_states=True)
        mod.bind([('data', (8, 2000))], [('softmax_label', (8,))])
        mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.01,
                                                            'momentum': 0.9})
        loaded += 1
    assert loaded == 8
    # a save that completes sweeps what the killed ones left
    subprocess.run([PY, '-c', textwrap.dedent('''
        import sys
        import distmod as mx
        prefix = sys.argv[1]
        epoch = mx.model.latest_checkpoint(prefix)
        sym, arg, aux = mx.model.load_checkpoint(prefix, epoch)
        mx.model.save_checkpoint(prefix, epoch + 1, sym, arg, aux)
    '''), prefix], check=True, env=env, timeout=120)
    left = [p for p in glob.glob(os.path.join(str(tmp_path), '.*')) if p.endswith('.tmp')]
    assert left == [], left

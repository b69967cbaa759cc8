"""Agreement before training: the ranks of a job compare, in one collective, what must be the
same on every rank, and all raise one error listing what differs.

``fit`` calls :func:`check_fit` first (before binding), and ``init_optimizer`` used on its
own calls :func:`check_optimizer`.  Compared (each rank's value, as text):

* ``distmod``: the version; ``kvstore``: the store's type;
* ``symbol``: the SHA-256 of the network's JSON (the default bucket's for a
  ``BucketingModule``) and ``default bucket key``;
* ``optimizer``: its name, and its parameters (``optimizer_params`` as given, or an
  ``Optimizer``'s learning rate, momentum, wd, rescale_grad, clip_gradient and scheduler);
* ``batch size``, ``num_epoch``, ``begin_epoch``, ``eval_data`` (given or not).

Left out on purpose, because they may differ: the data each rank reads (its shard, file
names, the iterator's length), the initial parameters and the initializer (rank 0's are
broadcast), callbacks, monitors and loggers (only rank 0 logs and writes checkpoints).
Parameter names, shapes and dtypes are compared where the store meets them (broadcast and
``init``).  In a job where every rank uses a one-process kvstore (``local``, ``device``) the
ranks train independently and only the store type is compared.

Outside a launched job (one process) nothing is exchanged.
"""
import hashlib
import json

from ..base import MXNetError, launched_world

__all__ = ['check_fit', 'check_optimizer', 'optimizer_fields', 'compare', 'inside_fit']

_IN_FIT = []          # fit has agreed: init_optimizer inside it does not ask again


class inside_fit:
    """A context for the body of ``fit`` after :func:`check_fit`."""
    def __enter__(self):
        _IN_FIT.append(True)

    def __exit__(self, *exc):
        _IN_FIT.pop()


def _text(value):
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return '{%s}' % ', '.join('%s: %s' % (k, _text(value[k])) for k in sorted(value))
    if isinstance(value, (list, tuple)):
        return '(%s)' % ', '.join(_text(v) for v in value)
    return repr(value) if isinstance(value, str) else str(value)


def _scheduler(sched):
    if sched is None:
        return 'None'
    fields = {k: v for k, v in vars(sched).items() if not k.startswith('_')
              and isinstance(v, (int, float, str, bool, list, tuple)) and k != 'count'}
    return '%s%s' % (type(sched).__name__, _text(fields))


def optimizer_fields(optimizer, optimizer_params=None):
    """``{'optimizer': text}``: the optimizer's name and the parameters that decide updates."""
    from .. import optimizer as _opt
    if isinstance(optimizer, str):
        params = dict(optimizer_params or {})
        sched = params.pop('lr_scheduler', None)
        text = '%s %s' % (optimizer.lower(), _text(params))
        if sched is not None:
            text += ' lr_scheduler=' + _scheduler(sched)
        return {'optimizer': text}
    if isinstance(optimizer, _opt.Optimizer):
        params = {'learning_rate': optimizer.lr, 'wd': optimizer.wd,
                  'rescale_grad': optimizer.rescale_grad,
                  'clip_gradient': optimizer.clip_gradient}
        for name in ('momentum', 'beta1', 'beta2', 'epsilon', 'gamma1', 'gamma2'):
            if isinstance(getattr(optimizer, name, None), (int, float)):
                params[name] = getattr(optimizer, name)
        return {'optimizer': '%s %s lr_scheduler=%s' % (
            type(optimizer).__name__.lower(), _text(params),
            _scheduler(getattr(optimizer, 'lr_scheduler', None)))}
    return {'optimizer': repr(type(optimizer).__name__)}


def _kvstore_type(kvstore):
    if kvstore is None:
        return 'None'
    return kvstore if isinstance(kvstore, str) else str(getattr(kvstore, 'type', kvstore))


def _is_local(kv_type):
    return not kv_type.startswith('dist')


def _symbol_fields(module):
    fields = {}
    try:
        sym = module.symbol
    except Exception:        # noqa: BLE001  a module without one symbol (SequentialModule)
        sym = None
    if sym is not None and hasattr(sym, 'tojson'):
        fields['symbol'] = 'sha256:' + hashlib.sha256(sym.tojson().encode()).hexdigest()[:16]
    key = getattr(module, '_default_bucket_key', None)
    if key is not None:
        fields['default bucket key'] = _text(key)
    return fields


def _batch_size(data):
    size = getattr(data, 'batch_size', None)
    if size is None and getattr(data, 'provide_data', None):
        size = data.provide_data[0].shape[0]
    return size


def check_fit(module, train_data, eval_data, kvstore, optimizer, optimizer_params,
              begin_epoch, num_epoch):
    """At the start of ``fit``: see the module."""
    from .. import __version__
    fields = {'distmod': __version__, 'kvstore': _kvstore_type(kvstore)}
    fields.update(_symbol_fields(module))
    fields.update(optimizer_fields(optimizer, optimizer_params))
    fields.update({'batch size': _text(_batch_size(train_data)), 'num_epoch': str(num_epoch),
                   'begin_epoch': str(begin_epoch),
                   'eval_data': 'given' if eval_data is not None else 'none'})
    _agree(fields, kvstore, 'fit', module)


def check_optimizer(module, kvstore, optimizer):
    """``init_optimizer`` outside ``fit``: the store type, symbol and optimizer (created)."""
    if _IN_FIT:
        return
    from .. import __version__
    fields = {'distmod': __version__, 'kvstore': _kvstore_type(kvstore)}
    fields.update(_symbol_fields(module))
    fields.update(optimizer_fields(optimizer))
    _agree(fields, kvstore, 'init_optimizer', module)


def _agree(fields, kvstore, what, module):
    gathered = _gather(fields, kvstore, what)
    if gathered is None:
        return
    if all(_is_local(g.get('kvstore', '')) for g in gathered):
        return                   # independent ranks: nothing else has to match
    error = compare(gathered)
    if error and len({g.get('symbol') for g in gathered}) > 1:
        # the networks differ: every rank sees it, so every rank takes part in one more
        # gather, of the networks themselves, to say where they differ
        error = (error[0], error[1] + ' (%s)' % _first_difference(
            _gather_symbols(module, kvstore, what)))
    if error:
        raise MXNetError('%s: the %d ranks of this job disagree before training (%s); every '
                         'rank must run the same configuration: %s'
                         % (what, len(gathered), 'one field differs' if error[0] == 1 else
                            '%d fields differ' % error[0], error[1]))


def _gather_symbols(module, kvstore, what):
    try:
        text = module.symbol.tojson()
    except Exception:        # noqa: BLE001
        text = '{}'
    return [json.loads(t) for t in _gather_texts(text, kvstore, what + ', the networks')]


def _node_text(node):
    attrs = node.get('attrs') or node.get('param') or {}
    return '%s %r%s' % (node.get('op', '?') if node.get('op') != 'null' else 'input',
                        node.get('name', '?'),
                        ' ' + ', '.join('%s=%s' % kv for kv in sorted(attrs.items()))
                        if attrs else '')


def _first_difference(graphs):
    """Words for the first node where the ranks' networks (symbol JSON) differ."""
    # operators first: an input made for an operator carries that operator's attributes
    nodes = [[n for n in g.get('nodes', []) if n.get('op') != 'null'] for g in graphs]
    found = _first_differing(nodes, 'operator')
    if found is None:
        found = _first_differing([g.get('nodes', []) for g in graphs], 'node')
    return found or 'the same nodes, wired differently'


def _first_differing(nodes, kind):
    for i in range(max([len(n) for n in nodes] + [0])):
        texts = [_node_text(n[i]) if i < len(n) else '(no node)' for n in nodes]
        if len(set(texts)) > 1:
            groups = {}
            for rank, t in enumerate(texts):
                groups.setdefault(t, []).append(rank)
            return 'first difference at %s %d: %s' % (kind, i, '; '.join(
                '%s %s: %s' % ('rank' if len(r) == 1 else 'ranks', ', '.join(map(str, r)), t)
                for t, r in sorted(groups.items(), key=lambda item: item[1][0])))
    return None


def compare(gathered):
    """``(count, text)`` of the fields that differ between the ranks' dicts, or None."""
    names = []
    for g in gathered:
        names.extend(k for k in g if k not in names)
    parts = []
    for name in names:
        values = [g.get(name, '(missing)') for g in gathered]
        if len(set(values)) == 1:
            continue
        groups = {}
        for rank, v in enumerate(values):
            groups.setdefault(v, []).append(rank)
        parts.append('%s: %s' % (name, '; '.join(
            '%s %s %s' % ('rank' if len(r) == 1 else 'ranks', ', '.join(map(str, r)), v)
            for v, r in sorted(groups.items(), key=lambda item: item[1][0]))))
    return (len(parts), ' | '.join(parts)) if parts else None


def _gather(fields, kvstore, what):
    """Every rank's fields (one collective), or None in one process.  Over the store's own
    ranks when ``kvstore`` is a distributed store already made, else over the whole job."""
    texts = _gather_texts(json.dumps(fields, sort_keys=True), kvstore, what)
    return None if texts is None else [json.loads(t) for t in texts]


def _gather_texts(text, kvstore, what):
    store = getattr(kvstore, '_store', None)
    if store is not None and getattr(kvstore, 'num_workers', 1) > 1:
        texts = kvstore.gather_text(text, 'the agreement before training (%s)' % what)
    else:
        if launched_world()[1] <= 1:
            return None
        from .. import kvstore as _kv
        texts = _kv.gather_world_text(text, 'the agreement before training (%s)' % what)
    return texts

"""MXNet 1.9.1's ``symbol_bf16`` lists: which operators AMP runs in bfloat16, in float32, in
the widest type of their inputs, or in float32 under a condition.

``FP32_FUNCS`` is every other operator distmod registers (for bfloat16 MXNet keeps all but a
few operators in float32), so a new operator lands there unless it is added to a list here.
distmod's NumPy backend cannot compute in bfloat16: a bfloat16 conversion builds, saves and
loads, but binding it is refused.
"""
from ._classify import every_other
from . import symbol_fp16 as _fp16

#: Run in bfloat16.
BF16_FUNCS = ['Convolution', 'FullyConnected']

#: Run in whichever type their inputs have.
BF16_FP32_FUNCS = [
    'BatchNorm', 'BatchNormWithReLU', 'Concat', 'LRN', 'Pooling', '_add', '_shuffle', 'abs',
    'clip', 'concat', 'relu', 'shuffle', 'sqrt', 'square', 'tanh'
]

#: Take the widest type among their inputs.
WIDEST_TYPE_CASTS = sorted(
    (set(_fp16.WIDEST_TYPE_CASTS) - {'Concat', 'concat', 'broadcast_mul',
                                     '_contrib_interleaved_matmul_encdec_qk',
                                     '_contrib_interleaved_matmul_encdec_valatt',
                                     '_contrib_interleaved_matmul_selfatt_qk',
                                     '_contrib_interleaved_matmul_selfatt_valatt'})
    | {'_contrib_MultiBoxDetection', '_contrib_MultiBoxPrior', '_contrib_MultiBoxTarget'})

#: ``(operator, parameter, values)``: float32 when the parameter has one of the values.
CONDITIONAL_FP32_FUNCS = [
    ('Activation', 'act_type', ['softrelu']),
    ('LeakyReLU', 'act_type', ['elu', 'selu']),
]

#: Loss layers: no dynamic loss scaling in symbolic execution (``amp.init`` warns).
LOSS_OUTPUT_FUNCTIONS = list(_fp16.LOSS_OUTPUT_FUNCTIONS)

#: Inputs kept in float32 when ``amp.init`` wraps these operators ('' marks the data input,
#: which is cast).
BF16_USE_FP32_PARAMS = {
    'BatchNormWithReLU': ['', 'gamma', 'beta', 'moving_mean', 'moving_var'],
    'BatchNorm': ['', 'gamma', 'beta', 'moving_mean', 'moving_var'],
}

#: Operators MXNet 1.9.1 files under no bfloat16 list.
UNLISTED = _fp16.UNLISTED + ['amp_cast', 'amp_multicast',
                             '_contrib_interleaved_matmul_encdec_qk',
                             '_contrib_interleaved_matmul_encdec_valatt',
                             '_contrib_interleaved_matmul_selfatt_qk',
                             '_contrib_interleaved_matmul_selfatt_valatt']



def __getattr__(name):
    # FP32_FUNCS, the operators unsafe in bfloat16 (their inputs are cast to float32):
    # computed when read, so that it holds operators registered after this module was imported
    if name == 'FP32_FUNCS':
        return every_other(BF16_FUNCS, BF16_FP32_FUNCS, WIDEST_TYPE_CASTS,
                           CONDITIONAL_FP32_FUNCS, unlisted=UNLISTED)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))

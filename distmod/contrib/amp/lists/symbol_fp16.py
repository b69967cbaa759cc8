"""Which operators AMP runs in float16, in float32, in the widest type of their inputs, or in
float32 under a condition (MXNet 1.9.1's ``symbol_fp16`` lists, names as MXNet registers them).

``FP16_FP32_FUNCS`` (operators that run in either type) is every other operator distmod
registers, so a new operator lands there unless it is added to a list here.
"""
from ._classify import every_other

#: Run in float16: their inputs are cast to float16.
FP16_FUNCS = ['Convolution', 'Deconvolution', 'FullyConnected', 'RNN']

#: Unsafe in float16: their inputs are cast to float32.
FP32_FUNCS = [
    'CTCLoss', 'Convolution_v1', 'Custom', 'GroupNorm', 'IdentityAttachKLSparseReg',
    'InstanceNorm', 'L2Normalization', 'LRN', 'LayerNorm', 'LinearRegressionOutput',
    'LogisticRegressionOutput', 'MAERegressionOutput', 'MakeLoss', 'SVMOutput', 'Softmax',
    'SoftmaxActivation', 'SoftmaxOutput', '_Hypot', '_HypotScalar', '_NDArray', '_Native',
    '_Power', '_PowerScalar', '_RDivScalar', '_RPowerScalar', '_contrib_CTCLoss',
    '_contrib_DeformableConvolution', '_contrib_DeformablePSROIPooling',
    '_contrib_MultiBoxDetection', '_contrib_MultiBoxPrior', '_contrib_MultiBoxTarget',
    '_contrib_SyncBatchNorm', '_contrib_count_sketch', '_contrib_ctc_loss', '_contrib_fft',
    '_contrib_hawkesll', '_hypot', '_hypot_scalar', '_linalg_det', '_linalg_extractdiag',
    '_linalg_extracttrian', '_linalg_gelqf', '_linalg_gemm', '_linalg_gemm2', '_linalg_inverse',
    '_linalg_makediag', '_linalg_maketrian', '_linalg_potrf', '_linalg_potri',
    '_linalg_slogdet', '_linalg_sumlogdiag', '_linalg_syevd', '_linalg_syrk', '_linalg_trmm',
    '_linalg_trsm', '_power', '_power_scalar', '_rdiv_scalar', '_rpower_scalar',
    '_sparse_LinearRegressionOutput', '_sparse_LogisticRegressionOutput',
    '_sparse_MAERegressionOutput', '_sparse_arccos', '_sparse_arcsin', '_sparse_arctanh',
    '_sparse_cosh', '_sparse_exp', '_sparse_expm1', '_sparse_gamma', '_sparse_gammaln',
    '_sparse_log', '_sparse_log10', '_sparse_log1p', '_sparse_log2', '_sparse_make_loss',
    '_sparse_mean', '_sparse_norm', '_sparse_rsqrt', '_sparse_square', '_sparse_tan',
    '_square_sum', 'arccos', 'arcsin', 'arctanh', 'argsort', 'broadcast_hypot',
    'broadcast_power', 'cosh', 'ctc_loss', 'erfinv', 'exp', 'expm1', 'gamma', 'gammaln',
    'khatri_rao', 'linalg_det', 'linalg_extractdiag', 'linalg_extracttrian', 'linalg_gelqf',
    'linalg_gemm', 'linalg_gemm2', 'linalg_inverse', 'linalg_makediag', 'linalg_maketrian',
    'linalg_potrf', 'linalg_potri', 'linalg_slogdet', 'linalg_sumlogdiag', 'linalg_syrk',
    'linalg_trmm', 'linalg_trsm', 'log', 'log10', 'log1p', 'log2', 'log_softmax', 'make_loss',
    'mean', 'moments', 'nanprod', 'nansum', 'norm', 'prod', 'rcbrt', 'reciprocal', 'rsqrt',
    'sinh', 'smooth_l1', 'softmax', 'softmax_cross_entropy', 'softmin', 'square', 'sum',
    'sum_axis', 'tan', 'topk'
]

#: Take the widest type among their inputs (``amp_multicast`` or casts to it).
WIDEST_TYPE_CASTS = [
    'Concat', 'Correlation', 'ElementWiseSum', '_Div', '_Equal', '_Greater', '_Greater_Equal',
    '_Lesser', '_Lesser_Equal', '_Logical_And', '_Logical_Or', '_Logical_Xor', '_Maximum',
    '_Minimum', '_Minus', '_Mod', '_Mul', '_Not_Equal', '_Plus', '_contrib_MultiProposal',
    '_contrib_PSROIPooling', '_contrib_Proposal', '_contrib_ROIAlign', '_contrib_box_iou',
    '_contrib_box_nms', '_contrib_box_non_maximum_suppression', '_contrib_dgl_adjacency',
    '_contrib_dgl_csr_neighbor_non_uniform_sample', '_contrib_dgl_csr_neighbor_uniform_sample',
    '_contrib_dgl_graph_compact', '_contrib_dgl_subgraph', '_contrib_edge_id',
    '_contrib_interleaved_matmul_encdec_qk', '_contrib_interleaved_matmul_encdec_valatt',
    '_contrib_interleaved_matmul_selfatt_qk', '_contrib_interleaved_matmul_selfatt_valatt',
    '_div', '_equal', '_greater', '_greater_equal', '_lesser', '_lesser_equal', '_logical_and',
    '_logical_or', '_logical_xor', '_maximum', '_minimum', '_minus', '_mod', '_mul',
    '_not_equal', '_plus', '_random_pdf_dirichlet', '_random_pdf_exponential',
    '_random_pdf_gamma', '_random_pdf_generalized_negative_binomial',
    '_random_pdf_negative_binomial', '_random_pdf_normal', '_random_pdf_poisson',
    '_random_pdf_uniform', '_scatter_elemwise_div', '_sparse_ElementWiseSum', '_sparse_add_n',
    '_sparse_broadcast_add', '_sparse_broadcast_div', '_sparse_broadcast_minus',
    '_sparse_broadcast_mul', '_sparse_broadcast_plus', '_sparse_broadcast_sub', '_sparse_dot',
    '_sparse_elemwise_add', '_sparse_elemwise_div', '_sparse_elemwise_mul',
    '_sparse_elemwise_sub', '_sparse_sum', '_sparse_where', '_sub', 'add_n', 'batch_dot',
    'broadcast_add', 'broadcast_div', 'broadcast_equal', 'broadcast_greater',
    'broadcast_greater_equal', 'broadcast_lesser', 'broadcast_lesser_equal',
    'broadcast_logical_and', 'broadcast_logical_or', 'broadcast_logical_xor',
    'broadcast_maximum', 'broadcast_minimum', 'broadcast_minus', 'broadcast_mod',
    'broadcast_mul', 'broadcast_not_equal', 'broadcast_plus', 'broadcast_sub', 'concat', 'dot',
    'elemwise_add', 'elemwise_div', 'elemwise_mul', 'elemwise_sub', 'random_pdf_dirichlet',
    'random_pdf_exponential', 'random_pdf_gamma', 'random_pdf_generalized_negative_binomial',
    'random_pdf_negative_binomial', 'random_pdf_normal', 'random_pdf_poisson',
    'random_pdf_uniform', 'stack', 'where'
]

#: ``(operator, parameter, values)``: float32 when the parameter has one of the values.
CONDITIONAL_FP32_FUNCS = [
    ('Activation', 'act_type', ['softrelu']),
    ('LeakyReLU', 'act_type', ['elu', 'selu']),
]

#: Loss layers: no dynamic loss scaling in symbolic execution (``amp.init`` warns).
LOSS_OUTPUT_FUNCTIONS = ['SoftmaxOutput', 'LinearRegressionOutput', 'LogisticRegressionOutput',
                         'MAERegressionOutput']

#: Operators MXNet 1.9.1 files under no list (a conversion leaves them as they are).
UNLISTED = ['_contrib_BatchNormWithReLU', '_contrib_ModulatedDeformableConvolution',
            '_contrib_RROIAlign', '_contrib_allclose', '_contrib_arange_like',
            '_contrib_box_decode', '_contrib_box_encode', '_contrib_round_ste',
            '_contrib_sign_ste', 'col2im', 'cumsum', 'im2col', 'multi_sum_sq', 'reset_arrays']



def __getattr__(name):
    # FP16_FP32_FUNCS, the operators that run in whichever type their inputs have: computed
    # when read, so that it holds operators registered after this module was imported
    if name == 'FP16_FP32_FUNCS':
        return every_other(FP16_FUNCS, FP32_FUNCS, WIDEST_TYPE_CASTS, CONDITIONAL_FP32_FUNCS,
                           unlisted=UNLISTED)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))

/* distmod's native kernels: tanh and the logistic function, 8 floats at a time.
 *
 * NumPy's float32 tanh runs one element at a time on processors without AVX-512 (about
 * 3.6 ns an element on an AVX2 EPYC: LeNet's first tanh, 737,280 floats, took 2.7 ms), and
 * distmod's sigmoid is that tanh of x / 2.  Here both are vector code for AVX2 with FMA:
 *
 *   tanh(x):    |x| < 0.625: x + x^3 P(x^2), P of degree 4 (the minimax form of the Cephes
 *               library's tanhf); else 1 - 2 / (exp(2|x|) + 1), its sign x's.  Neither form
 *               loses precision where it is used (no cancellation: tanh > 0.55 in the second).
 *   sigmoid(x): 1 / (1 + exp(-x)).
 *   exp(t):     t = n ln2 + r, |r| <= ln2 / 2, ln2 split in two for an exact reduction,
 *               exp(r) a degree-6 polynomial, times 2^n built in the exponent bits.
 *
 * Against float64 over every 97th float32: tanh within 1 unit in the last place, as NumPy's,
 * and sigmoid within 3, as NumPy's 1 / (1 + exp(-x)) in float32 (tests/ops check both).  NaN
 * in gives NaN out; +-inf give +-1 (tanh) and 1, 0 (sigmoid).  Every
 * element goes through the same vector operations, the last few under a lane mask, so a result
 * depends on its input alone, never on where a thread's range starts: the same bits however
 * the array is split.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DM_ACT static inline __attribute__((always_inline, target("avx2,fma")))
#define DM_ACT_FN __attribute__((target("avx2,fma")))

/* exp(t) for t in [-88.3, 88.7] (the caller clamps); 89 gives inf */
DM_ACT __m256 exp8(__m256 t)
{
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(t, _mm256_set1_ps(1.44269504088896341f),
                                               _mm256_set1_ps(0.5f)));
    /* r = t - n ln2, ln2 = 0.693359375 - 2.12194440e-4 (the first part exact in 9 bits) */
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
                                                   _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

DM_ACT __m256 tanh8(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign, x);
    /* small: a + a^3 P(a^2) */
    __m256 z = _mm256_mul_ps(a, a);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), a, a);
    /* large: 1 - 2 / (exp(2a) + 1); 2a capped at 40 (tanh rounds to 1 from about 9.4),
     * which keeps inf out of exp8 (a NaN a, which the cap turns into 40, is put back below) */
    __m256 e = exp8(_mm256_min_ps(_mm256_add_ps(a, a), _mm256_set1_ps(40.0f)));
    __m256 large = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                                 _mm256_div_ps(_mm256_set1_ps(2.0f),
                                               _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    __m256 r = _mm256_blendv_ps(large, small,
                                _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    r = _mm256_or_ps(r, _mm256_and_ps(sign, x));
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

DM_ACT __m256 sigmoid8(__m256 x)
{
    /* -x clamped to [-88.3, 89]: exp8 of 89 is 2^128, the bits of inf, so 1 / (1 + it) is 0
     * (below -88.3 the result is 1 anyway) */
    __m256 t = _mm256_max_ps(_mm256_min_ps(_mm256_sub_ps(_mm256_setzero_ps(), x),
                                           _mm256_set1_ps(89.0f)), _mm256_set1_ps(-88.3f));
    __m256 r = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(t)));
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* the lanes of a tail of k < 8 elements */
DM_ACT __m256i tail_mask(long k)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), lane);
}

#define DM_MAP(NAME, F8)                                                      \
    DM_ACT_FN static void NAME##_avx2(const float *x, float *y, long n)         \
    {                                                                         \
        long i = 0;                                                           \
        for (; i + 8 <= n; i += 8)                                            \
            _mm256_storeu_ps(y + i, F8(_mm256_loadu_ps(x + i)));             \
        if (i < n) {                                                          \
            __m256i m = tail_mask(n - i);                                     \
            _mm256_maskstore_ps(y + i, m, F8(_mm256_maskload_ps(x + i, m)));  \
        }                                                                     \
    }
DM_MAP(tanh, tanh8)
DM_MAP(sigmoid, sigmoid8)

/* f over ``rows`` rows of ``cols`` floats, x's ldx apart and y's ldy; 1 where it ran (AVX2
 * with FMA here), else 0 */
static int map_rows(void (*f)(const float *, float *, long), const float *x, long ldx,
                    float *y, long ldy, long rows, long cols)
{
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return 0;
    for (long r = 0; r < rows; r++)
        f(x + r * ldx, y + r * ldy, cols);
    return 1;
}

/* y = tanh(x) over ``rows`` rows of ``cols`` floats, x's ldx apart and y's ldy (a
 * contiguous array is one row; y may be x); 1 where it ran, else 0 */
int dm_tanh(const float *x, long ldx, float *y, long ldy, long rows, long cols)
{
    return map_rows(tanh_avx2, x, ldx, y, ldy, rows, cols);
}

/* y = 1 / (1 + exp(-x)), laid out as dm_tanh's; 1 where it ran, else 0 */
int dm_sigmoid(const float *x, long ldx, float *y, long ldy, long rows, long cols)
{
    return map_rows(sigmoid_avx2, x, ldx, y, ldy, rows, cols);
}
#else
int dm_tanh(const float *x, long ldx, float *y, long ldy, long rows, long cols)
{
    (void)x; (void)ldx; (void)y; (void)ldy; (void)rows; (void)cols;
    return 0;
}
int dm_sigmoid(const float *x, long ldx, float *y, long ldy, long rows, long cols)
{
    (void)x; (void)ldx; (void)y; (void)ldy; (void)rows; (void)cols;
    return 0;
}
#endif

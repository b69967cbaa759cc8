/* distmod's native kernels: "same" 2-D convolutions read and written in the NCHW arrays
 * themselves.
 *
 * A stride-1 2-D convolution whose output is the size of its input (dilate * (kernel - 1) ==
 * 2 * pad on both axes: a 3x3 kernel padded by 1, 5x5 by 2, 1x3 by (0, 1)...) reads, for
 * kernel offset k, the input at a constant shift s_k = dy_k * W + dx_k of each output's flat
 * position p = h * W + w, where (h + dy_k, w + dx_k) lies inside the image; elsewhere the
 * padding gives 0.  So the sums run over the flat positions of each image in vectors of 16,
 * and an AVX-512 lane mask per (vector, offset) (``masks``, computed once per geometry by the
 * caller) zeroes the lanes that would read padding: no padded copy of the input or of the
 * output gradient, no padding positions computed, each output stored once, contiguously.
 * Masked-off lanes are never read, so a shift may point before or past the arrays.
 *
 * The data gradient is the same sum over the output gradient with the shifts negated (and the
 * weights transposed); the weight gradient sums g[f, p] * x[c, p + s_k] over the positions.
 * AVX-512F only: the callers keep the padded-grid kernels (shiftconv.c) elsewhere.
 *
 * Each output is summed by one thread, over k then c, in a fixed order; the weight gradient
 * of a range of images goes into 16-lane accumulators, then into dw in a fixed order, so a
 * given split over threads gives the same bits every run. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DS_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define DS_INLINE static inline __attribute__((always_inline, target("avx512f,avx2,fma")))

/* FB output rows from f0 by QV vectors of 16 positions from p; ``m`` is the masks' row of the
 * block's first vector (K per vector); the last vector's lanes outside ``last`` are not
 * stored.  8 rows by 3 vectors, as in shiftconv.c's AVX-512 block. */
DS_INLINE void same_block(const float *x, long xs_c, const float *w, int K,
                          const long *shift, const uint16_t *m, int F, int C, int f0,
                          float *y, long ys_f, const float *bias, long p, const int FB,
                          const int QV, __mmask16 last)
{
    __m512 acc[8][3];
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < QV; i++)
            acc[j][i] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __mmask16 mk[3];
        for (int i = 0; i < QV; i++)
            mk[i] = (__mmask16)m[i * K + k];
        const float *xc = x + p + shift[k];
        const float *wc = w + (long)k * C * F + f0;
        for (int c = 0; c < C; c++, xc += xs_c, wc += F) {
            __m512 v[3];
            for (int i = 0; i < QV; i++)
                v[i] = _mm512_maskz_loadu_ps(mk[i], xc + 16 * i);
            for (int j = 0; j < FB; j++) {
                __m512 b = _mm512_set1_ps(wc[j]);
                for (int i = 0; i < QV; i++)
                    acc[j][i] = _mm512_fmadd_ps(b, v[i], acc[j][i]);
            }
        }
    }
    for (int j = 0; j < FB; j++) {
        float *yf = y + (long)(f0 + j) * ys_f + p;
        for (int i = 0; i < QV; i++) {
            __m512 v = acc[j][i];
            if (bias)
                v = _mm512_add_ps(v, _mm512_set1_ps(bias[f0 + j]));
            _mm512_mask_storeu_ps(yf + 16 * i, i == QV - 1 ? last : (__mmask16)0xFFFF, v);
        }
    }
}

DS_INLINE void same_column(const float *x, long xs_c, const float *w, int K,
                           const long *shift, const uint16_t *m, int F, int C, float *y,
                           long ys_f, const float *bias, long p, const int QV,
                           __mmask16 last)
{
    int f0 = 0;
    for (; f0 + 8 <= F; f0 += 8)
        same_block(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, 8, QV, last);
    for (; f0 + 4 <= F; f0 += 4)
        same_block(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, 4, QV, last);
    switch (F - f0) {
    case 3: same_block(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, 3, QV, last);
        break;
    case 2: same_block(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, 2, QV, last);
        break;
    case 1: same_block(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, 1, QV, last);
        break;
    }
}

/* The 16-lane accumulators acc[(f * C + c) * 16 ..] += g[f, p + t] * x[c, p + t + sh] over
 * ``nv`` vectors from p (``m``: the offset's mask of the first, K apart; ``gm``: the last
 * vector's lanes inside the image, the only g load under a mask).  4 rows by 6 channels, as
 * in shiftconv.c. */
DS_INLINE void same_wgrad_block(const float *g, long gs_f, const float *x, long xs_c,
                                long sh, const uint16_t *m, int K, int C, int f0, int c0,
                                float *acc, long p, long nv, __mmask16 gm, const int FB,
                                const int CB)
{
    __m512 a[4][6];
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < CB; i++)
            a[j][i] = _mm512_loadu_ps(acc + ((long)(f0 + j) * C + c0 + i) * 16);
    const float *gq = g + f0 * gs_f + p, *xq = x + c0 * xs_c + p + sh;
    for (long t = 0; t < nv - 1; t++, gq += 16, xq += 16) {
        __mmask16 mx = (__mmask16)m[t * K];
        __m512 xv[6];
        for (int i = 0; i < CB; i++)
            xv[i] = _mm512_maskz_loadu_ps(mx, xq + i * xs_c);
        for (int j = 0; j < FB; j++) {
            __m512 gv = _mm512_loadu_ps(gq + j * gs_f);
            for (int i = 0; i < CB; i++)
                a[j][i] = _mm512_fmadd_ps(gv, xv[i], a[j][i]);
        }
    }
    {
        __mmask16 mx = (__mmask16)m[(nv - 1) * K];
        __m512 xv[6];
        for (int i = 0; i < CB; i++)
            xv[i] = _mm512_maskz_loadu_ps(mx, xq + i * xs_c);
        for (int j = 0; j < FB; j++) {
            __m512 gv = _mm512_maskz_loadu_ps(gm, gq + j * gs_f);
            for (int i = 0; i < CB; i++)
                a[j][i] = _mm512_fmadd_ps(gv, xv[i], a[j][i]);
        }
    }
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < CB; i++)
            _mm512_storeu_ps(acc + ((long)(f0 + j) * C + c0 + i) * 16, a[j][i]);
}

DS_INLINE void same_wgrad_cols(const float *g, long gs_f, const float *x, long xs_c, long sh,
                               const uint16_t *m, int K, int C, int f0, float *acc, long p,
                               long nv, __mmask16 gm, const int FB)
{
    int c0 = 0;
    for (; c0 + 6 <= C; c0 += 6)
        same_wgrad_block(g, gs_f, x, xs_c, sh, m, K, C, f0, c0, acc, p, nv, gm, FB, 6);
    switch (C - c0) {
    case 5: same_wgrad_block(g, gs_f, x, xs_c, sh, m, K, C, f0, c0, acc, p, nv, gm, FB, 5);
        break;
    case 4: same_wgrad_block(g, gs_f, x, xs_c, sh, m, K, C, f0, c0, acc, p, nv, gm, FB, 4);
        break;
    case 3: same_wgrad_block(g, gs_f, x, xs_c, sh, m, K, C, f0, c0, acc, p, nv, gm, FB, 3);
        break;
    case 2: same_wgrad_block(g, gs_f, x, xs_c, sh, m, K, C, f0, c0, acc, p, nv, gm, FB, 2);
        break;
    case 1: same_wgrad_block(g, gs_f, x, xs_c, sh, m, K, C, f0, c0, acc, p, nv, gm, FB, 1);
        break;
    }
}

#define DS_CHUNK 64L   /* vectors (1024 positions) per pass: a chunk of g and x stays in L2 */

DS_AVX512 static void same_conv_avx512(const float *x, long xs_img, long xs_c,
                                       const float *w, int K, const long *shift,
                                       const uint16_t *masks, int F, int C, float *y,
                                       long ys_img, long ys_f, const float *bias, long n0,
                                       long n1, long hw)
{
    for (long i = n0; i < n1; i++) {
        const float *xi = x + i * xs_img;
        float *yi = y + i * ys_img;
        long p = 0;
        for (; p + 48 <= hw; p += 48)
            same_column(xi, xs_c, w, K, shift, masks + (p / 16) * K, F, C, yi, ys_f, bias, p,
                        3, (__mmask16)0xFFFF);
        for (; p < hw; p += 16) {
            long lanes = hw - p < 16 ? hw - p : 16;
            same_column(xi, xs_c, w, K, shift, masks + (p / 16) * K, F, C, yi, ys_f, bias, p,
                        1, (__mmask16)((1u << lanes) - 1));
        }
    }
}

DS_AVX512 static void same_wgrad_avx512(const float *g, long gs_img, long gs_f,
                                        const float *x, long xs_img, long xs_c, int K,
                                        const long *shift, const uint16_t *masks, int F,
                                        int C, float *dw, float *acc, long n0, long n1,
                                        long hw)
{
    long nvec = (hw + 15) / 16, tail = hw - (nvec - 1) * 16;
    for (long i = n0; i < n1; i++) {
        const float *gi = g + i * gs_img, *xi = x + i * xs_img;
        for (long v = 0; v < nvec; v += DS_CHUNK) {
            long nv = nvec - v < DS_CHUNK ? nvec - v : DS_CHUNK;
            __mmask16 gm = v + nv == nvec ? (__mmask16)((1u << tail) - 1) : (__mmask16)0xFFFF;
            for (int k = 0; k < K; k++) {
                float *ak = acc + (long)k * F * C * 16;
                const uint16_t *m = masks + v * K + k;
                int f0 = 0;
                for (; f0 + 4 <= F; f0 += 4)
                    same_wgrad_cols(gi, gs_f, xi, xs_c, shift[k], m, K, C, f0, ak, v * 16, nv,
                                    gm, 4);
                switch (F - f0) {
                case 3: same_wgrad_cols(gi, gs_f, xi, xs_c, shift[k], m, K, C, f0, ak, v * 16,
                                        nv, gm, 3); break;
                case 2: same_wgrad_cols(gi, gs_f, xi, xs_c, shift[k], m, K, C, f0, ak, v * 16,
                                        nv, gm, 2); break;
                case 1: same_wgrad_cols(gi, gs_f, xi, xs_c, shift[k], m, K, C, f0, ak, v * 16,
                                        nv, gm, 1); break;
                }
            }
        }
    }
    long total = (long)K * F * C;
    for (long e = 0; e < total; e++) {
        const float *a = acc + e * 16;
        float h[8];
        for (int l = 0; l < 8; l++)
            h[l] = a[l] + a[l + 8];
        dw[e] += ((h[0] + h[4]) + (h[1] + h[5])) + ((h[2] + h[6]) + (h[3] + h[7]));
    }
}
#define DS_SIMD 1
#endif

/* ---- the exported entry points ---- */

/* y[i][f][p] = bias[f] + sum_k sum_c w[k][c][f] * x[i][c][p + shift[k]] for images i in
 * [n0, n1) and flat positions p < hw, the terms whose lane of masks[(p / 16) * K + k] is 0
 * left out (the padding).  x's channel c of image i is at x + i * xs_img + c * xs_c, y's row
 * f at y + i * ys_img + f * ys_f; w is (K, C, F); bias is NULL or F values.  Returns 0 where
 * this processor has no AVX-512F (nothing written), else 1. */
int dm_same_conv(const float *x, long xs_img, long xs_c, const float *w, int K,
                 const long *shift, const uint16_t *masks, int F, int C, float *y,
                 long ys_img, long ys_f, const float *bias, long n0, long n1, long hw)
{
#ifdef DS_SIMD
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        same_conv_avx512(x, xs_img, xs_c, w, K, shift, masks, F, C, y, ys_img, ys_f, bias, n0,
                         n1, hw);
        return 1;
    }
#endif
    (void)x; (void)xs_img; (void)xs_c; (void)w; (void)K; (void)shift; (void)masks; (void)F;
    (void)C; (void)y; (void)ys_img; (void)ys_f; (void)bias; (void)n0; (void)n1; (void)hw;
    return 0;
}

/* dw[k][f][c] += sum over images i in [n0, n1) and positions p < hw of
 * g[i][f][p] * x[i][c][p + shift[k]] (the masked terms left out), with ``acc`` K * F * C * 16
 * floats of scratch.  Layouts as dm_same_conv's (g like y).  Returns 0 without AVX-512F. */
int dm_same_wgrad(const float *g, long gs_img, long gs_f, const float *x, long xs_img,
                  long xs_c, int K, const long *shift, const uint16_t *masks, int F, int C,
                  float *dw, float *acc, long n0, long n1, long hw)
{
#ifdef DS_SIMD
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        memset(acc, 0, sizeof(float) * 16 * (size_t)K * F * C);
        same_wgrad_avx512(g, gs_img, gs_f, x, xs_img, xs_c, K, shift, masks, F, C, dw, acc,
                          n0, n1, hw);
        return 1;
    }
#endif
    (void)g; (void)gs_img; (void)gs_f; (void)x; (void)xs_img; (void)xs_c; (void)K;
    (void)shift; (void)masks; (void)F; (void)C; (void)dw; (void)acc; (void)n0; (void)n1;
    (void)hw;
    return 0;
}

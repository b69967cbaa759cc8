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
 * AVX-512F, or AVX2 with FMA: 8-lane halves of the same 16-lane masks, AVX2's masked loads and
 * stores (on a 2-core AVX2 EPYC, the convnet's 16->16 layer, batch 100, one thread: forward
 * 6.6 -> 4.9 ms, data gradient 6.7 -> 5.1, weight gradient 7.2 -> 6.5 against the padded
 * grid's kernels with their copies).  Elsewhere the callers keep the padded-grid kernels
 * (shiftconv.c).
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

/* ---- AVX2 with FMA: the same sums over 8-wide halves of the 16-position vectors ---- */
#define DS_AVX2 __attribute__((target("avx2,fma")))
#define DS_INLINE2 static inline __attribute__((always_inline, target("avx2,fma")))

/* lane_table[b]: the AVX2 lane mask of the 8 bits b (lane l all ones where bit l is set),
 * filled once when the library loads: one load where three instructions made it, in the
 * weight gradient's innermost loop */
static int32_t lane_table[256][8] __attribute__((aligned(32)));

__attribute__((constructor)) static void fill_lane_table(void)
{
    for (int b = 0; b < 256; b++)
        for (int l = 0; l < 8; l++)
            lane_table[b][l] = (b >> l) & 1 ? -1 : 0;
}

/* The lanes of the low 8 bits of ``bits`` as an AVX2 mask. */
DS_INLINE2 __m256i lanes8(unsigned bits)
{
    return _mm256_load_si256((const __m256i *)lane_table[bits & 0xFFu]);
}

/* The mask of offset k for the 8 positions from q (a multiple of 8): half of a 16-lane one. */
DS_INLINE2 __m256i half_mask(const uint16_t *masks, int K, int k, long q)
{
    return lanes8(((unsigned)masks[(q >> 4) * K + k] >> (q & 8)) & 0xFFu);
}

/* FB output rows from f0 by QH halves of 8 positions from p (a multiple of 8); lanes at or
 * past ``hw`` are neither read nor stored.  4 rows by 3 halves, as shiftconv.c's AVX2 block
 * (12 accumulators of the 16 registers). */
DS_INLINE2 void same_block8(const float *x, long xs_c, const float *w, int K,
                            const long *shift, const uint16_t *masks, int F, int C, int f0,
                            float *y, long ys_f, const float *bias, long p, long hw,
                            const int FB, const int QH)
{
    __m256 acc[4][3];
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < QH; i++)
            acc[j][i] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256i mk[3];
        for (int i = 0; i < QH; i++)
            mk[i] = half_mask(masks, K, k, p + 8 * i);
        const float *xc = x + p + shift[k];
        const float *wc = w + (long)k * C * F + f0;
        for (int c = 0; c < C; c++, xc += xs_c, wc += F) {
            __m256 v[3];
            for (int i = 0; i < QH; i++)
                v[i] = _mm256_maskload_ps(xc + 8 * i, mk[i]);
            for (int j = 0; j < FB; j++) {
                __m256 b = _mm256_broadcast_ss(wc + j);
                for (int i = 0; i < QH; i++)
                    acc[j][i] = _mm256_fmadd_ps(b, v[i], acc[j][i]);
            }
        }
    }
    for (int j = 0; j < FB; j++) {
        float *yf = y + (long)(f0 + j) * ys_f + p;
        for (int i = 0; i < QH; i++) {
            __m256 v = acc[j][i];
            if (bias)
                v = _mm256_add_ps(v, _mm256_set1_ps(bias[f0 + j]));
            long q = p + 8 * i;
            if (q + 8 <= hw)
                _mm256_storeu_ps(yf + 8 * i, v);
            else
                _mm256_maskstore_ps(yf + 8 * i, lanes8((1u << (hw - q)) - 1u), v);
        }
    }
}

DS_INLINE2 void same_column8(const float *x, long xs_c, const float *w, int K,
                             const long *shift, const uint16_t *m, int F, int C, float *y,
                             long ys_f, const float *bias, long p, long hw, const int QH)
{
    int f0 = 0;
    for (; f0 + 4 <= F; f0 += 4)
        same_block8(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, hw, 4, QH);
    switch (F - f0) {
    case 3: same_block8(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, hw, 3, QH);
        break;
    case 2: same_block8(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, hw, 2, QH);
        break;
    case 1: same_block8(x, xs_c, w, K, shift, m, F, C, f0, y, ys_f, bias, p, hw, 1, QH);
        break;
    }
}

DS_AVX2 static void same_conv_avx2(const float *x, long xs_img, long xs_c, const float *w,
                                   int K, const long *shift, const uint16_t *masks, int F,
                                   int C, float *y, long ys_img, long ys_f, const float *bias,
                                   long n0, long n1, long hw)
{
    for (long i = n0; i < n1; i++) {
        const float *xi = x + i * xs_img;
        float *yi = y + i * ys_img;
        long p = 0;
        for (; p + 24 <= hw; p += 24)
            same_column8(xi, xs_c, w, K, shift, masks, F, C, yi, ys_f, bias, p, hw, 3);
        for (; p < hw; p += 8)
            same_column8(xi, xs_c, w, K, shift, masks, F, C, yi, ys_f, bias, p, hw, 1);
    }
}

/* acc[(f * C + c) * 16 + l] (lanes 0-7; 8-15 stay 0) += g[f, q + l] * x[c, q + l + sh] over
 * ``nh`` halves from p, for offset k.  4 rows by 3 channels. */
DS_INLINE2 void same_wgrad_block8(const float *g, long gs_f, const float *x, long xs_c,
                                  long sh, const uint16_t *masks, int K, int k, int C, int f0,
                                  int c0, float *acc, long p, long nh, long hw, const int FB,
                                  const int CB)
{
    __m256 a[4][3];
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < CB; i++)
            a[j][i] = _mm256_loadu_ps(acc + ((long)(f0 + j) * C + c0 + i) * 16);
    const float *gq = g + f0 * gs_f + p, *xq = x + c0 * xs_c + p + sh;
    /* every half but an image's last is whole: g loads plainly there */
    long whole = p + 8 * nh <= hw ? nh : nh - 1;
    for (long t = 0; t < whole; t++, gq += 8, xq += 8) {
        __m256i mx = half_mask(masks, K, k, p + 8 * t);
        __m256 xv[3];
        for (int i = 0; i < CB; i++)
            xv[i] = _mm256_maskload_ps(xq + i * xs_c, mx);
        for (int j = 0; j < FB; j++) {
            __m256 gv = _mm256_loadu_ps(gq + j * gs_f);
            for (int i = 0; i < CB; i++)
                a[j][i] = _mm256_fmadd_ps(gv, xv[i], a[j][i]);
        }
    }
    if (whole < nh) {
        long q = p + 8 * whole;
        __m256i mx = half_mask(masks, K, k, q), gm = lanes8((1u << (hw - q)) - 1u);
        __m256 xv[3];
        for (int i = 0; i < CB; i++)
            xv[i] = _mm256_maskload_ps(xq + i * xs_c, mx);
        for (int j = 0; j < FB; j++) {
            __m256 gv = _mm256_maskload_ps(gq + j * gs_f, gm);
            for (int i = 0; i < CB; i++)
                a[j][i] = _mm256_fmadd_ps(gv, xv[i], a[j][i]);
        }
    }
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < CB; i++)
            _mm256_storeu_ps(acc + ((long)(f0 + j) * C + c0 + i) * 16, a[j][i]);
}

DS_INLINE2 void same_wgrad_cols8(const float *g, long gs_f, const float *x, long xs_c,
                                 long sh, const uint16_t *m, int K, int k, int C, int f0,
                                 float *acc, long p, long nh, long hw, const int FB)
{
    int c0 = 0;
    for (; c0 + 3 <= C; c0 += 3)
        same_wgrad_block8(g, gs_f, x, xs_c, sh, m, K, k, C, f0, c0, acc, p, nh, hw, FB, 3);
    switch (C - c0) {
    case 2: same_wgrad_block8(g, gs_f, x, xs_c, sh, m, K, k, C, f0, c0, acc, p, nh, hw, FB, 2);
        break;
    case 1: same_wgrad_block8(g, gs_f, x, xs_c, sh, m, K, k, C, f0, c0, acc, p, nh, hw, FB, 1);
        break;
    }
}

DS_AVX2 static void same_wgrad_avx2(const float *g, long gs_img, long gs_f, const float *x,
                                    long xs_img, long xs_c, int K, const long *shift,
                                    const uint16_t *masks, int F, int C, float *dw,
                                    float *acc, long n0, long n1, long hw)
{
    long nhalf = (hw + 7) / 8;
    for (long i = n0; i < n1; i++) {
        const float *gi = g + i * gs_img, *xi = x + i * xs_img;
        for (long h = 0; h < nhalf; h += 2 * DS_CHUNK) {
            long nh = nhalf - h < 2 * DS_CHUNK ? nhalf - h : 2 * DS_CHUNK;
            for (int k = 0; k < K; k++) {
                float *ak = acc + (long)k * F * C * 16;
                int f0 = 0;
                for (; f0 + 4 <= F; f0 += 4)
                    same_wgrad_cols8(gi, gs_f, xi, xs_c, shift[k], masks, K, k, C, f0, ak,
                                     h * 8, nh, hw, 4);
                switch (F - f0) {
                case 3: same_wgrad_cols8(gi, gs_f, xi, xs_c, shift[k], masks, K, k, C, f0, ak,
                                         h * 8, nh, hw, 3); break;
                case 2: same_wgrad_cols8(gi, gs_f, xi, xs_c, shift[k], masks, K, k, C, f0, ak,
                                         h * 8, nh, hw, 2); break;
                case 1: same_wgrad_cols8(gi, gs_f, xi, xs_c, shift[k], masks, K, k, C, f0, ak,
                                         h * 8, nh, hw, 1); break;
                }
            }
        }
    }
    long total = (long)K * F * C;
    for (long e = 0; e < total; e++) {
        const float *a = acc + e * 16;
        dw[e] += ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    }
}
#define DS_SIMD 1
#endif

/* ---- the exported entry points ---- */

/* y[i][f][p] = bias[f] + sum_k sum_c w[k][c][f] * x[i][c][p + shift[k]] for images i in
 * [n0, n1) and flat positions p < hw, the terms whose lane of masks[(p / 16) * K + k] is 0
 * left out (the padding).  x's channel c of image i is at x + i * xs_img + c * xs_c, y's row
 * f at y + i * ys_img + f * ys_f; w is (K, C, F); bias is NULL or F values.  Returns 0 where
 * this processor has neither AVX-512F nor AVX2 with FMA (nothing written), else 1.  ``simd``
 * caps the version (dm_native_simd's levels: 2 AVX-512 where the processor has it, 1 AVX2). */
int dm_same_conv(const float *x, long xs_img, long xs_c, const float *w, int K,
                 const long *shift, const uint16_t *masks, int F, int C, float *y,
                 long ys_img, long ys_f, const float *bias, long n0, long n1, long hw,
                 int simd)
{
#ifdef DS_SIMD
    __builtin_cpu_init();
    if (simd >= 2 && __builtin_cpu_supports("avx512f")) {
        same_conv_avx512(x, xs_img, xs_c, w, K, shift, masks, F, C, y, ys_img, ys_f, bias, n0,
                         n1, hw);
        return 1;
    }
    if (simd >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        same_conv_avx2(x, xs_img, xs_c, w, K, shift, masks, F, C, y, ys_img, ys_f, bias, n0,
                       n1, hw);
        return 1;
    }
#endif
    (void)x; (void)xs_img; (void)xs_c; (void)w; (void)K; (void)shift; (void)masks; (void)F;
    (void)C; (void)y; (void)ys_img; (void)ys_f; (void)bias; (void)n0; (void)n1; (void)hw;
    (void)simd;
    return 0;
}

/* dw[k][f][c] += sum over images i in [n0, n1) and positions p < hw of
 * g[i][f][p] * x[i][c][p + shift[k]] (the masked terms left out), with ``acc`` K * F * C * 16
 * floats of scratch.  Layouts as dm_same_conv's (g like y).  Returns 0 without AVX-512F or
 * AVX2 with FMA. */
int dm_same_wgrad(const float *g, long gs_img, long gs_f, const float *x, long xs_img,
                  long xs_c, int K, const long *shift, const uint16_t *masks, int F, int C,
                  float *dw, float *acc, long n0, long n1, long hw, int simd)
{
#ifdef DS_SIMD
    __builtin_cpu_init();
    if (simd >= 2 && __builtin_cpu_supports("avx512f")) {
        memset(acc, 0, sizeof(float) * 16 * (size_t)K * F * C);
        same_wgrad_avx512(g, gs_img, gs_f, x, xs_img, xs_c, K, shift, masks, F, C, dw, acc,
                          n0, n1, hw);
        return 1;
    }
    if (simd >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        memset(acc, 0, sizeof(float) * 16 * (size_t)K * F * C);
        same_wgrad_avx2(g, gs_img, gs_f, x, xs_img, xs_c, K, shift, masks, F, C, dw, acc, n0,
                        n1, hw);
        return 1;
    }
#endif
    (void)g; (void)gs_img; (void)gs_f; (void)x; (void)xs_img; (void)xs_c; (void)K;
    (void)shift; (void)masks; (void)F; (void)C; (void)dw; (void)acc; (void)n0; (void)n1;
    (void)hw; (void)simd;
    return 0;
}

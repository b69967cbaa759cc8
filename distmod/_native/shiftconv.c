/* distmod's native kernels: the stride-1 convolution over a flat padded grid.
 *
 * Plain C, no Python API: distmod/_native/__init__.py loads this shared object with ctypes
 * (which releases the GIL for the call, so Python threads can run disjoint ranges at once).
 *
 * The layout is the one of distmod/ops/conv.py's _Shifted engine: every channel is one row
 * of a flat buffer holding the padded grid of all images, so kernel offset k reads the input
 * shifted by a constant off[k].  Here the offsets and the channels are summed in registers
 * (a block of output rows by a block of 8-wide grid vectors), so each output element is
 * written once, where one BLAS GEMM per offset writes it once per offset.
 *
 * The vector code is compiled for AVX2 with FMA, and again for AVX-512F (16-wide vectors,
 * tails under lane masks), whatever the compiler's default target is; each is used only where
 * the processor has it (dm_native_simd).  Without AVX2 and FMA distmod keeps its BLAS path.
 * Both vector versions sum each output in the same order (offsets, then channels, one fused
 * multiply-add each), so they give the same forward results; the weight gradient's lane
 * sums differ in order, within rounding.
 */
#include <stddef.h>
#include <string.h>

#define DM_ABI_VERSION 15

int dm_abi_version(void) { return DM_ABI_VERSION; }

/* ---- portable loops: the tails of the vector kernels, and processors without AVX2 ---- */

/* y[f*ldy + q] (+)= sum_k sum_c w[(k*C + c)*F + f] * x[c*ldx + q + off[k]], q in [q0, q1) */
static void conv_rows_scalar(const float *x, long ldx, const float *w, int K, const long *off,
                             int F, int C, int f0, int f1, float *y, long ldy, long q0, long q1,
                             int accumulate)
{
    for (int f = f0; f < f1; f++) {
        for (long q = q0; q < q1; q++) {
            float s = accumulate ? y[f * ldy + q] : 0.0f;
            for (int k = 0; k < K; k++) {
                const float *xk = x + q + off[k];
                const float *wk = w + (long)k * C * F + f;
                for (int c = 0; c < C; c++)
                    s += wk[(long)c * F] * xk[c * ldx];
            }
            y[f * ldy + q] = s;
        }
    }
}

/* dw[(k*F + f)*C + c] += sum_{q in [q0, q1)} g[f*ldg + q] * x[c*ldx + q + off[k]] */
static void wgrad_scalar(const float *g, long ldg, const float *x, long ldx, int K,
                         const long *off, int F, int C, float *dw, long q0, long q1)
{
    for (int k = 0; k < K; k++)
        for (int f = 0; f < F; f++)
            for (int c = 0; c < C; c++) {
                const float *gf = g + f * ldg, *xc = x + c * ldx + off[k];
                double s = 0.0;
                for (long q = q0; q < q1; q++)
                    s += gf[q] * xc[q];
                dw[((long)k * F + f) * C + c] += (float)s;
            }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DM_SIMD 1
#define DM_AVX2 __attribute__((target("avx2,fma")))
#define DM_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* The widest vector code this processor runs: 2 (AVX-512F), 1 (AVX2 with FMA) or 0. */
int dm_native_simd(void)
{
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return 0;
    return __builtin_cpu_supports("avx512f") ? 2 : 1;
}

/* 1 where the processor has AVX-512's Skylake-X set (F, CD, BW, DQ, VL), the one NumPy's
 * AVX512_SKX loops need (distmod/_native/__init__.py, _numpy_vector_tanh) */
int dm_cpu_avx512_skx(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

/* One block: FB output rows (f0..f0+FB) by QV vectors of 8 grid positions from q. */
DM_INLINE void conv_block(const float *x, long ldx, const float *w, int K, const long *off,
                          int F, int C, int f0, float *y, long ldy, long q, int accumulate,
                          const int FB, const int QV)
{
    __m256 acc[4][4];
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < QV; i++)
            acc[j][i] = accumulate ? _mm256_loadu_ps(y + (f0 + j) * ldy + q + 8 * i)
                                   : _mm256_setzero_ps();
    /* the pointers walk: one channel's row of x and its F weights (contiguous) per step */
    for (int k = 0; k < K; k++) {
        const float *xc = x + q + off[k];
        const float *wc = w + (long)k * C * F + f0;
        for (int c = 0; c < C; c++, xc += ldx, wc += F) {
            __m256 v[4];
            for (int i = 0; i < QV; i++)
                v[i] = _mm256_loadu_ps(xc + 8 * i);
            for (int j = 0; j < FB; j++) {
                __m256 b = _mm256_broadcast_ss(wc + j);
                for (int i = 0; i < QV; i++)
                    acc[j][i] = _mm256_fmadd_ps(b, v[i], acc[j][i]);
            }
        }
    }
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < QV; i++)
            _mm256_storeu_ps(y + (f0 + j) * ldy + q + 8 * i, acc[j][i]);
}

DM_AVX2 static void conv_rows_avx2(const float *x, long ldx, const float *w, int K,
                                   const long *off, int F, int C, float *y, long ldy,
                                   long q0, long q1, int accumulate)
{
    const long step = 24;
    long q = q0;
    for (; q + step <= q1; q += step) {
        int f0 = 0;
        for (; f0 + 4 <= F; f0 += 4)
            conv_block(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 4, 3);
        switch (F - f0) {
        case 3: conv_block(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 3, 3); break;
        case 2: conv_block(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 2, 3); break;
        case 1: conv_block(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 1, 3); break;
        }
    }
    for (; q + 8 <= q1; q += 8) {
        int f0 = 0;
        for (; f0 + 4 <= F; f0 += 4)
            conv_block(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 4, 1);
        for (; f0 < F; f0++)
            conv_block(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 1, 1);
    }
    if (q < q1)
        conv_rows_scalar(x, ldx, w, K, off, F, C, 0, F, y, ldy, q, q1, accumulate);
}

/* Accumulators acc[(k*F + f)*C + c][8] += g[f, q..q+8) * x[c, q+off[k]..) over a chunk. */
DM_INLINE void wgrad_block(const float *g, long ldg, const float *x, long ldx, long off,
                           int F, int C, int f0, int c0, float *acc, long q, long n,
                           const int FB, const int CB)
{
    __m256 a[4][3];
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < CB; i++)
            a[j][i] = _mm256_loadu_ps(acc + ((long)(f0 + j) * C + c0 + i) * 8);
    const float *gq = g + f0 * ldg + q, *xq = x + c0 * ldx + q + off;
    for (long t = 0; t < n; t += 8) {
        __m256 xv[3];
        for (int i = 0; i < CB; i++)
            xv[i] = _mm256_loadu_ps(xq + i * ldx + t);
        for (int j = 0; j < FB; j++) {
            __m256 gv = _mm256_loadu_ps(gq + j * ldg + t);
            for (int i = 0; i < CB; i++)
                a[j][i] = _mm256_fmadd_ps(gv, xv[i], a[j][i]);
        }
    }
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < CB; i++)
            _mm256_storeu_ps(acc + ((long)(f0 + j) * C + c0 + i) * 8, a[j][i]);
}

DM_INLINE void wgrad_cols(const float *g, long ldg, const float *x, long ldx, long off,
                          int F, int C, int f0, float *acc, long q, long n, const int FB)
{
    int c0 = 0;
    for (; c0 + 3 <= C; c0 += 3)
        wgrad_block(g, ldg, x, ldx, off, F, C, f0, c0, acc, q, n, FB, 3);
    switch (C - c0) {
    case 2: wgrad_block(g, ldg, x, ldx, off, F, C, f0, c0, acc, q, n, FB, 2); break;
    case 1: wgrad_block(g, ldg, x, ldx, off, F, C, f0, c0, acc, q, n, FB, 1); break;
    }
}

#define DM_WGRAD_CHUNK 1024L   /* grid positions per pass: a chunk of g and x stays in L2 */

/* Adds the positions [i*img + a, i*img + b) of images i in [n0, n1) into the vector
 * accumulators ``acc`` (K*F*C*8 floats), then their lane sums into dw.  Each image's positions
 * past the last multiple of 8 take the portable loop. */
DM_AVX2 static void wgrad_avx2(const float *g, long ldg, const float *x, long ldx, int K,
                               const long *off, int F, int C, float *dw, float *acc,
                               long n0, long n1, long img, long a, long b)
{
    long n8 = (b - a) / 8 * 8;
    for (long im = n0; im < n1; im++) {
        long q0 = im * img + a;
        for (long q = q0; q < q0 + n8; q += DM_WGRAD_CHUNK) {
            long n = q0 + n8 - q < DM_WGRAD_CHUNK ? q0 + n8 - q : DM_WGRAD_CHUNK;
            for (int k = 0; k < K; k++) {
                float *ak = acc + (long)k * F * C * 8;
                int f0 = 0;
                for (; f0 + 4 <= F; f0 += 4)
                    wgrad_cols(g, ldg, x, ldx, off[k], F, C, f0, ak, q, n, 4);
                switch (F - f0) {
                case 3: wgrad_cols(g, ldg, x, ldx, off[k], F, C, f0, ak, q, n, 3); break;
                case 2: wgrad_cols(g, ldg, x, ldx, off[k], F, C, f0, ak, q, n, 2); break;
                case 1: wgrad_cols(g, ldg, x, ldx, off[k], F, C, f0, ak, q, n, 1); break;
                }
            }
        }
        if (n8 < b - a)
            wgrad_scalar(g, ldg, x, ldx, K, off, F, C, dw, q0 + n8, im * img + b);
    }
    long total = (long)K * F * C;
    for (long e = 0; e < total; e++) {
        const float *v = acc + e * 8;
        dw[e] += ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
    }
}

/* ---- AVX-512: the same sums over 16-wide vectors, tails under a lane mask ---- */
#define DM_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define DM_INLINE512 static inline __attribute__((always_inline, target("avx512f,avx2,fma")))

/* Direct output (dm_shift_conv_direct): a grid vector's lanes scattered into an NCHW array.
 * Segment s sends the lanes of ``mask[s]`` to the row's base + off[s] + lane: one segment per
 * grid row the vector crosses, the padding columns and rows masked out. */
#define DM_SEGS 17
typedef struct { long off[DM_SEGS]; __mmask16 mask[DM_SEGS]; int n; } dm_lanes;
typedef struct {
    float *y;              /* this image's outputs: row f at y + f * ys_f */
    long ys_f;
    const float *bias;     /* NULL, or one value per row, added after the sum */
    dm_lanes v[3];         /* the current column's vectors */
} dm_direct;

/* The scatter of the ``lanes`` grid positions from ``rel`` (from output (0, 0), rows of Wp
 * grid positions) into an H x W output. */
static void plan_lanes(dm_lanes *p, long rel, int lanes, long Wp, long H, long W)
{
    p->n = 0;
    for (int l = 0; l < lanes;) {
        long pos = rel + l, r = pos / Wp, c = pos % Wp;
        int run = (int)(Wp - c < lanes - l ? Wp - c : lanes - l);
        if (r < H && c < W) {
            int valid = (int)(W - c < run ? W - c : run);
            p->mask[p->n] = (__mmask16)(((1u << valid) - 1) << l);
            p->off[p->n] = r * W + c - l;
            p->n++;
        }
        l += run;
    }
}

/* One block: FB output rows by QV vectors of 16 grid positions from q; the last vector's
 * lanes outside ``last`` are neither read nor written.  8 rows by 3 vectors (24 of the 32
 * registers) measured fastest: 2.14 ms for a 16->16 3x3 convolution of 100 28x28 images,
 * against 2.76 for 4 by 3 and 2.48 for 4 by 6 (AVX2's 4 by 3: 3.67). */
DM_INLINE512 void conv_block16(const float *x, long ldx, const float *w, int K,
                               const long *off, int F, int C, int f0, float *y, long ldy,
                               long q, int accumulate, const int FB, const int QV,
                               __mmask16 last, const dm_direct *d)
{
    __m512 acc[8][3];
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < QV; i++) {
            __mmask16 m = i == QV - 1 ? last : (__mmask16)0xFFFF;
            acc[j][i] = accumulate ? _mm512_maskz_loadu_ps(m, y + (f0 + j) * ldy + q + 16 * i)
                                   : _mm512_setzero_ps();
        }
    for (int k = 0; k < K; k++) {
        const float *xc = x + q + off[k];
        const float *wc = w + (long)k * C * F + f0;
        for (int c = 0; c < C; c++, xc += ldx, wc += F) {
            __m512 v[3];
            for (int i = 0; i < QV; i++)
                v[i] = _mm512_maskz_loadu_ps(i == QV - 1 ? last : (__mmask16)0xFFFF,
                                             xc + 16 * i);
            for (int j = 0; j < FB; j++) {
                __m512 b = _mm512_set1_ps(wc[j]);
                for (int i = 0; i < QV; i++)
                    acc[j][i] = _mm512_fmadd_ps(b, v[i], acc[j][i]);
            }
        }
    }
    if (d) {
        /* through an aligned buffer: indexing the accumulators inside the loop over
         * segments made GCC keep them in memory, stored at every step of the sums */
        float out[8 * 3 * 16] __attribute__((aligned(64)));
        for (int j = 0; j < FB; j++)
            for (int i = 0; i < QV; i++)
                _mm512_store_ps(out + (j * QV + i) * 16, acc[j][i]);
        for (int j = 0; j < FB; j++) {
            float *yf = d->y + (long)(f0 + j) * d->ys_f;
            __m512 bj = _mm512_set1_ps(d->bias ? d->bias[f0 + j] : 0.0f);
            for (int i = 0; i < QV; i++) {
                __m512 v = _mm512_load_ps(out + (j * QV + i) * 16);
                if (d->bias)
                    v = _mm512_add_ps(v, bj);
                for (int t = 0; t < d->v[i].n; t++)
                    _mm512_mask_storeu_ps(yf + d->v[i].off[t], d->v[i].mask[t], v);
            }
        }
        return;
    }
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < QV; i++)
            _mm512_mask_storeu_ps(y + (f0 + j) * ldy + q + 16 * i,
                                  i == QV - 1 ? last : (__mmask16)0xFFFF, acc[j][i]);
}

/* All F rows of one column of blocks: QV vectors from q, the last one masked. */
DM_INLINE512 void conv_column16(const float *x, long ldx, const float *w, int K,
                                const long *off, int F, int C, float *y, long ldy, long q,
                                int accumulate, const int QV, __mmask16 last,
                                const dm_direct *d)
{
    int f0 = 0;
    for (; f0 + 8 <= F; f0 += 8)
        conv_block16(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 8, QV, last, d);
    for (; f0 + 4 <= F; f0 += 4)
        conv_block16(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 4, QV, last, d);
    switch (F - f0) {
    case 3: conv_block16(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 3, QV, last, d);
        break;
    case 2: conv_block16(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 2, QV, last, d);
        break;
    case 1: conv_block16(x, ldx, w, K, off, F, C, f0, y, ldy, q, accumulate, 1, QV, last, d);
        break;
    }
}

DM_AVX512 static void conv_rows_avx512(const float *x, long ldx, const float *w, int K,
                                       const long *off, int F, int C, float *y, long ldy,
                                       long q0, long q1, int accumulate)
{
    const __mmask16 all = 0xFFFF;
    long q = q0;
    for (; q + 48 <= q1; q += 48)
        conv_column16(x, ldx, w, K, off, F, C, y, ldy, q, accumulate, 3, all, NULL);
    for (; q + 16 <= q1; q += 16)
        conv_column16(x, ldx, w, K, off, F, C, y, ldy, q, accumulate, 1, all, NULL);
    if (q < q1)
        conv_column16(x, ldx, w, K, off, F, C, y, ldy, q, accumulate, 1,
                      (__mmask16)((1u << (q1 - q)) - 1), NULL);
}

/* conv_rows_avx512 over one image's grid positions [q0, q1), the outputs scattered by ``d``
 * (its ``y`` set to the image's outputs); ``base`` is the grid position of output (0, 0). */
DM_AVX512 static void conv_direct_avx512(const float *x, long ldx, const float *w, int K,
                                         const long *off, int F, int C, dm_direct *d,
                                         long q0, long q1, long base, long Wp, long H, long W)
{
    const __mmask16 all = 0xFFFF;
    long q = q0;
    for (; q + 48 <= q1; q += 48) {
        for (int i = 0; i < 3; i++)
            plan_lanes(&d->v[i], q + 16 * i - base, 16, Wp, H, W);
        conv_column16(x, ldx, w, K, off, F, C, NULL, 0, q, 0, 3, all, d);
    }
    for (; q < q1; q += 16) {
        int lanes = q1 - q < 16 ? (int)(q1 - q) : 16;
        plan_lanes(&d->v[0], q - base, lanes, Wp, H, W);
        conv_column16(x, ldx, w, K, off, F, C, NULL, 0, q, 0, 1,
                      (__mmask16)((1u << lanes) - 1), d);
    }
}

/* Accumulators acc[(f*C + c)*16 ..] += g[f, q..) * x[c, q+off..) over n positions, the
 * last n % 16 under a lane mask (masked lanes load zeros and add nothing).  4 rows by 6
 * channels measured fastest (16->16 3x3 over 100 28x28 images: 3.91 ms, against 6.13 for
 * AVX2's 4 by 3 shape in 16-wide vectors and 4.11 for 4 by 4; AVX2 itself 4.64). */
DM_INLINE512 void wgrad_block16(const float *g, long ldg, const float *x, long ldx, long off,
                                int C, int f0, int c0, float *acc, long q, long n,
                                const int FB, const int CB)
{
    __m512 a[4][6];
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < CB; i++)
            a[j][i] = _mm512_loadu_ps(acc + ((long)(f0 + j) * C + c0 + i) * 16);
    const float *gq = g + f0 * ldg + q, *xq = x + c0 * ldx + q + off;
    long t = 0;
    for (; t + 16 <= n; t += 16) {
        __m512 xv[6];
        for (int i = 0; i < CB; i++)
            xv[i] = _mm512_loadu_ps(xq + i * ldx + t);
        for (int j = 0; j < FB; j++) {
            __m512 gv = _mm512_loadu_ps(gq + j * ldg + t);
            for (int i = 0; i < CB; i++)
                a[j][i] = _mm512_fmadd_ps(gv, xv[i], a[j][i]);
        }
    }
    if (t < n) {
        __mmask16 m = (__mmask16)((1u << (n - t)) - 1);
        __m512 xv[6];
        for (int i = 0; i < CB; i++)
            xv[i] = _mm512_maskz_loadu_ps(m, xq + i * ldx + t);
        for (int j = 0; j < FB; j++) {
            __m512 gv = _mm512_maskz_loadu_ps(m, gq + j * ldg + t);
            for (int i = 0; i < CB; i++)
                a[j][i] = _mm512_fmadd_ps(gv, xv[i], a[j][i]);
        }
    }
    for (int j = 0; j < FB; j++)
        for (int i = 0; i < CB; i++)
            _mm512_storeu_ps(acc + ((long)(f0 + j) * C + c0 + i) * 16, a[j][i]);
}

DM_INLINE512 void wgrad_cols16(const float *g, long ldg, const float *x, long ldx, long off,
                               int C, int f0, float *acc, long q, long n, const int FB)
{
    int c0 = 0;
    for (; c0 + 6 <= C; c0 += 6)
        wgrad_block16(g, ldg, x, ldx, off, C, f0, c0, acc, q, n, FB, 6);
    switch (C - c0) {
    case 5: wgrad_block16(g, ldg, x, ldx, off, C, f0, c0, acc, q, n, FB, 5); break;
    case 4: wgrad_block16(g, ldg, x, ldx, off, C, f0, c0, acc, q, n, FB, 4); break;
    case 3: wgrad_block16(g, ldg, x, ldx, off, C, f0, c0, acc, q, n, FB, 3); break;
    case 2: wgrad_block16(g, ldg, x, ldx, off, C, f0, c0, acc, q, n, FB, 2); break;
    case 1: wgrad_block16(g, ldg, x, ldx, off, C, f0, c0, acc, q, n, FB, 1); break;
    }
}

/* wgrad_avx2 over 16-wide accumulators (K*F*C*16 floats); no portable tail. */
DM_AVX512 static void wgrad_avx512(const float *g, long ldg, const float *x, long ldx, int K,
                                   const long *off, int F, int C, float *dw, float *acc,
                                   long n0, long n1, long img, long a, long b)
{
    for (long im = n0; im < n1; im++) {
        long q0 = im * img + a, q1 = im * img + b;
        for (long q = q0; q < q1; q += DM_WGRAD_CHUNK) {
            long n = q1 - q < DM_WGRAD_CHUNK ? q1 - q : DM_WGRAD_CHUNK;
            for (int k = 0; k < K; k++) {
                float *ak = acc + (long)k * F * C * 16;
                int f0 = 0;
                for (; f0 + 4 <= F; f0 += 4)
                    wgrad_cols16(g, ldg, x, ldx, off[k], C, f0, ak, q, n, 4);
                switch (F - f0) {
                case 3: wgrad_cols16(g, ldg, x, ldx, off[k], C, f0, ak, q, n, 3); break;
                case 2: wgrad_cols16(g, ldg, x, ldx, off[k], C, f0, ak, q, n, 2); break;
                case 1: wgrad_cols16(g, ldg, x, ldx, off[k], C, f0, ak, q, n, 1); break;
                }
            }
        }
    }
    long total = (long)K * F * C;
    for (long e = 0; e < total; e++) {
        const float *v = acc + e * 16;
        float h[8];
        for (int l = 0; l < 8; l++)
            h[l] = v[l] + v[l + 8];
        dw[e] += ((h[0] + h[4]) + (h[1] + h[5])) + ((h[2] + h[6]) + (h[3] + h[7]));
    }
}
#else
int dm_native_simd(void) { return 0; }
int dm_cpu_avx512_skx(void) { return 0; }
#endif

/* ---- the exported entry points ---- */

/* The convolution's output rows over grid positions [q0, q1):
 *   y[f*ldy + q] = (accumulate ? y[f*ldy + q] : 0) + sum_k sum_c w[k][c][f] x[c*ldx + q + off[k]]
 * with w contiguous (K, C, F): one channel's weights for all rows side by side.  x may be shifted back (negative offsets) as long as every
 * address read lies inside the caller's buffer. */
void dm_shift_conv(const float *x, long ldx, const float *w, int K, const long *off, int F,
                   int C, float *y, long ldy, long q0, long q1, int accumulate, int simd)
{
#ifdef DM_SIMD
    if (simd >= 2) {
        conv_rows_avx512(x, ldx, w, K, off, F, C, y, ldy, q0, q1, accumulate);
        return;
    }
    if (simd) {
        conv_rows_avx2(x, ldx, w, K, off, F, C, y, ldy, q0, q1, accumulate);
        return;
    }
#endif
    (void)simd;
    conv_rows_scalar(x, ldx, w, K, off, F, C, 0, F, y, ldy, q0, q1, accumulate);
}

/* dm_shift_conv over the positions [i*img + a, i*img + b) of images i in [n0, n1): the rows
 * of a padded grid that hold outputs, so the padding rows at the end (or start) of every
 * image are not computed. */
void dm_shift_conv_images(const float *x, long ldx, const float *w, int K, const long *off,
                          int F, int C, float *y, long ldy, long n0, long n1, long img,
                          long a, long b, int accumulate, int simd)
{
    for (long i = n0; i < n1; i++)
        dm_shift_conv(x, ldx, w, K, off, F, C, y, ldy, i * img + a, i * img + b, accumulate,
                      simd);
}

/* dm_shift_conv_images writing its outputs straight into the NCHW array y instead of a grid
 * (the copy out of the grid is gone): grid position i*img + a0 + h*Wp + w of image i is
 * output (h, w) of y + i*ys_img + f*ys_f + h*W + w, for h < H and w < W; the other grid
 * positions of [i*img + a, i*img + b) are computed and dropped.  ``bias`` (NULL or F values)
 * is added to each sum.  The vector code is AVX-512's (``simd`` 2: lane masks scatter each
 * vector); otherwise the portable loop sums each output on its own. */
void dm_shift_conv_direct(const float *x, long ldx, const float *w, int K, const long *off,
                          int F, int C, float *y, long ys_img, long ys_f, const float *bias,
                          long n0, long n1, long img, long a, long b, long a0, long Wp,
                          long H, long W, int simd)
{
#ifdef DM_SIMD
    if (simd >= 2) {
        dm_direct d;
        d.ys_f = ys_f;
        d.bias = bias;
        for (long i = n0; i < n1; i++) {
            d.y = y + i * ys_img;
            conv_direct_avx512(x, ldx, w, K, off, F, C, &d, i * img + a, i * img + b,
                               i * img + a0, Wp, H, W);
        }
        return;
    }
#endif
    (void)simd;
    (void)a;
    (void)b;
    for (long i = n0; i < n1; i++)
        for (int f = 0; f < F; f++)
            for (long h = 0; h < H; h++) {
                float *yr = y + i * ys_img + f * ys_f + h * W;
                long q0 = i * img + a0 + h * Wp;
                conv_rows_scalar(x, ldx, w, K, off, F, C, f, f + 1, yr - q0, 0, q0, q0 + W,
                                 0);
                if (bias)
                    for (long c = 0; c < W; c++)
                        yr[c] += bias[f];
            }
}

/* The weight gradient over the positions [i*img + a, i*img + b) of images i in [n0, n1),
 * added to dw (K, F, C):
 *   dw[k][f][c] += sum_q g[f*ldg + q] * x[c*ldx + q + off[k]]
 * ``scratch`` holds K*F*C*16 floats (the vector accumulators: AVX2 uses 8 per weight,
 * AVX-512 16).  ``simd``: 0 the portable loops, 1 AVX2, 2 AVX-512 (dm_native_simd's
 * levels).  One image of the whole grid (n0 = 0, n1 = 1, img = a = 0, b = grid) is the
 * plain range. */
void dm_shift_wgrad(const float *g, long ldg, const float *x, long ldx, int K, const long *off,
                    int F, int C, float *dw, float *scratch, long n0, long n1, long img,
                    long a, long b, int simd)
{
#ifdef DM_SIMD
    if (simd >= 2) {
        memset(scratch, 0, sizeof(float) * 16 * (size_t)K * F * C);
        wgrad_avx512(g, ldg, x, ldx, K, off, F, C, dw, scratch, n0, n1, img, a, b);
        return;
    }
    if (simd) {
        memset(scratch, 0, sizeof(float) * 8 * (size_t)K * F * C);
        wgrad_avx2(g, ldg, x, ldx, K, off, F, C, dw, scratch, n0, n1, img, a, b);
        return;
    }
#endif
    (void)simd;
    (void)scratch;
    for (long i = n0; i < n1; i++)
        wgrad_scalar(g, ldg, x, ldx, K, off, F, C, dw, i * img + a, i * img + b);
}

/* distmod's native kernels: 2-D max pooling over planes of float32 NCHW data.
 *
 * Plain C, no Python API (see shiftconv.c).  A "plane" is one (image, channel) pair: H x W
 * in, OH x OW out.  Each call takes a range of planes, so distmod's thread pool runs disjoint
 * ranges at once.  The semantics are those of distmod/ops/conv.py's NumPy path, which are
 * MXNet's:
 *   - a window's cells outside the input (padding, or the end of a 'full' window) count as
 *     -FLT_MAX (NumPy's finfo(float32).min), so a window of -inf values gives -FLT_MAX;
 *   - a NaN in a window makes its maximum NaN (as np.maximum does);
 *   - the gradient of a window goes to its first cell, in row-major order, that equals the
 *     maximum (so none where the maximum is NaN), and is added where windows overlap, in
 *     the same order as NumPy's, so the results are the same bits;
 *   - the other cells of a window get 0 whatever its gradient, as in MXNet (NumPy's path
 *     multiplies, so an infinite or NaN head gradient gives it NaN there).
 * The 2x2 windows of stride 2 without padding (LeNet's, VGG's) take loops the compiler
 * vectorises; every other geometry takes the general loops.
 */
#include <float.h>
#include <string.h>

/* NumPy's maximum: NaN wins, from either side. */
#define DM_MAXNAN(m, v) (((v) > (m) || (v) != (v)) ? (v) : (m))

static float window_max(const float *x, long H, long W, long h0, long w0, int kh, int kw)
{
    float m = 0.0f;
    int first = 1;
    for (int i = 0; i < kh; i++) {
        long h = h0 + i;
        for (int j = 0; j < kw; j++) {
            long w = w0 + j;
            float v = (h >= 0 && h < H && w >= 0 && w < W) ? x[h * W + w] : -FLT_MAX;
            m = first ? v : DM_MAXNAN(m, v);
            first = 0;
        }
    }
    return m;
}

/* y[p] = the max of each window of x[p], planes p in [p0, p1). */
void dm_maxpool2d(const float *x, float *y, long p0, long p1, long H, long W, long OH, long OW,
                  int kh, int kw, int sh, int sw, int ph, int pw)
{
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0
            && 2 * OH <= H && 2 * OW <= W) {
        for (long p = p0; p < p1; p++) {
            const float *xp = x + p * H * W;
            float *yp = y + p * OH * OW;
            for (long i = 0; i < OH; i++) {
                const float *r0 = xp + 2 * i * W, *r1 = r0 + W;
                float *out = yp + i * OW;
                for (long j = 0; j < OW; j++) {
                    float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
                    float m = DM_MAXNAN(a, b);
                    m = DM_MAXNAN(m, c);
                    out[j] = DM_MAXNAN(m, d);
                }
            }
        }
        return;
    }
    for (long p = p0; p < p1; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * OH * OW;
        for (long i = 0; i < OH; i++)
            for (long j = 0; j < OW; j++)
                yp[i * OW + j] = window_max(xp, H, W, i * sh - ph, j * sw - pw, kh, kw);
    }
}

/* dx[p] = the gradient g[p] of y[p] = maxpool(x[p]) sent to each window's first maximum,
 * planes p in [p0, p1); dx is written whole (zeros where no window sends anything). */
void dm_maxpool2d_grad(const float *x, const float *y, const float *g, float *dx, long p0,
                       long p1, long H, long W, long OH, long OW, int kh, int kw, int sh,
                       int sw, int ph, int pw)
{
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0
            && 2 * OH <= H && 2 * OW <= W) {
        for (long p = p0; p < p1; p++) {
            const float *xp = x + p * H * W, *yp = y + p * OH * OW, *gp = g + p * OH * OW;
            float *dp = dx + p * H * W;
            if (2 * OH != H || 2 * OW != W)       /* rows or columns no window covers */
                memset(dp, 0, sizeof(float) * H * W);
            for (long i = 0; i < OH; i++) {
                const float *r0 = xp + 2 * i * W, *r1 = r0 + W;
                float *d0 = dp + 2 * i * W, *d1 = d0 + W;
                const float *yi = yp + i * OW, *gi = gp + i * OW;
                for (long j = 0; j < OW; j++) {
                    /* bitwise, not &&: no branches, so the loop vectorises */
                    float m = yi[j], gv = gi[j];
                    int e0 = r0[2 * j] == m, e1 = r0[2 * j + 1] == m;
                    int e2 = r1[2 * j] == m, e3 = r1[2 * j + 1] == m;
                    e1 &= !e0;
                    e2 &= !(e0 | e1);
                    e3 &= !(e0 | e1 | e2);
                    d0[2 * j] = e0 ? gv : 0.0f;
                    d0[2 * j + 1] = e1 ? gv : 0.0f;
                    d1[2 * j] = e2 ? gv : 0.0f;
                    d1[2 * j + 1] = e3 ? gv : 0.0f;
                }
            }
        }
        return;
    }
    for (long p = p0; p < p1; p++) {
        const float *xp = x + p * H * W, *yp = y + p * OH * OW, *gp = g + p * OH * OW;
        float *dp = dx + p * H * W;
        memset(dp, 0, sizeof(float) * H * W);
        /* outputs in reverse order: a cell then receives its windows' gradients in the order
         * of their kernel offsets, so the sums round as the NumPy path's (offset by offset) */
        for (long i = OH - 1; i >= 0; i--)
            for (long j = OW - 1; j >= 0; j--) {
                float m = yp[i * OW + j];
                long h0 = i * sh - ph, w0 = j * sw - pw;
                int found = 0;
                for (int a = 0; a < kh && !found; a++) {
                    long h = h0 + a;
                    for (int b = 0; b < kw; b++) {
                        long w = w0 + b;
                        int inside = h >= 0 && h < H && w >= 0 && w < W;
                        float v = inside ? xp[h * W + w] : -FLT_MAX;
                        if (v == m) {           /* the first maximum: a pad cell drops it */
                            if (inside)
                                dp[h * W + w] += gp[i * OW + j];
                            found = 1;
                            break;
                        }
                    }
                }
            }
    }
}

/* distmod's native kernels: 2-D im2col and col2im for distmod/ops/conv.py's _Lowering.
 *
 * Plain C, no Python API (see shiftconv.c).  The layouts are _Lowering's, float32:
 *   the padded input buffer   buf[c][n][h][w]            (or buf[c][h][w][n], batch_last)
 *   the columns               col[c][i][j][n][oh][ow]    (or col[c][i][j][oh][ow][n])
 * with h = oh*sh + i*dh and w = ow*sw + j*dw for kernel offset (i, j).  Each call takes the
 * channels [c0, c1), so distmod's thread pool runs disjoint channel ranges at once.  col2im
 * adds the kernel offsets in the order NumPy's path does (offset by offset), so every cell
 * of the buffer is summed in the same order: the same bits.
 */
#include <string.h>

/* One run of n floats: dst[t*ds] (+)= src[t*ss]. */
static void run_copy(float *dst, long ds, const float *src, long ss, long n)
{
    if (ds == 1 && ss == 1) {
        memcpy(dst, src, sizeof(float) * (size_t)n);
        return;
    }
    for (long t = 0; t < n; t++)
        dst[t * ds] = src[t * ss];
}

static void run_add(float *dst, long ds, const float *src, long ss, long n)
{
    if (ds == 1 && ss == 1) {
        for (long t = 0; t < n; t++)
            dst[t] += src[t];
        return;
    }
    for (long t = 0; t < n; t++)
        dst[t * ds] += src[t * ss];
}

/* The walk both directions share: for every channel, kernel offset and column-row, the
 * buffer run and the column run it pairs with.  ``add``: col2im (buf += col), else im2col
 * (col = buf). */
static void lower2d(float *buf, float *col, long c0, long c1, long N, long Hp, long Wp,
                    long OH, long OW, int kh, int kw, int sh, int sw, int dh, int dw,
                    int batch_last, int add, long col_c0)
{
    long plane = Hp * Wp * N;                          /* one channel of buf */
    long block = N * OH * OW;                          /* one kernel offset of col */
    for (long c = c0; c < c1; c++) {
        float *bc = buf + c * plane;
        float *cc = col + (c - col_c0) * (long)kh * kw * block;
        if (add)
            memset(bc, 0, sizeof(float) * (size_t)plane);
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float *ck = cc + ((long)i * kw + j) * block;
                if (batch_last) {
                    /* col[oh][ow][n] <- buf[oh*sh + i*dh][ow*sw + j*dw][n] */
                    for (long oh = 0; oh < OH; oh++) {
                        float *b = bc + ((oh * sh + (long)i * dh) * Wp + (long)j * dw) * N;
                        float *r = ck + oh * OW * N;
                        if (sw == 1) {                 /* one run of OW * N floats */
                            if (add)
                                run_add(b, 1, r, 1, OW * N);
                            else
                                run_copy(r, 1, b, 1, OW * N);
                            continue;
                        }
                        for (long ow = 0; ow < OW; ow++) {
                            if (add)
                                run_add(b + ow * sw * N, 1, r + ow * N, 1, N);
                            else
                                run_copy(r + ow * N, 1, b + ow * sw * N, 1, N);
                        }
                    }
                } else {
                    /* col[n][oh][ow] <- buf[n][oh*sh + i*dh][ow*sw + j*dw] */
                    for (long n = 0; n < N; n++)
                        for (long oh = 0; oh < OH; oh++) {
                            float *b = bc + (n * Hp + oh * sh + (long)i * dh) * Wp
                                       + (long)j * dw;
                            float *r = ck + (n * OH + oh) * OW;
                            if (add)
                                run_add(b, sw, r, 1, OW);
                            else
                                run_copy(r, 1, b, sw, OW);
                        }
                }
            }
    }
}

void dm_im2col2d(const float *buf, float *col, long c0, long c1, long N, long Hp, long Wp,
                 long OH, long OW, int kh, int kw, int sh, int sw, int dh, int dw,
                 int batch_last)
{
    lower2d((float *)buf, col, c0, c1, N, Hp, Wp, OH, OW, kh, kw, sh, sw, dh, dw, batch_last,
            0, 0);
}

/* buf (channels [c0, c1), zeroed first) = the columns' scatter-add. */
void dm_col2im2d(const float *col, float *buf, long c0, long c1, long N, long Hp, long Wp,
                 long OH, long OW, int kh, int kw, int sh, int sw, int dh, int dw,
                 int batch_last)
{
    lower2d(buf, (float *)col, c0, c1, N, Hp, Wp, OH, OW, kh, kw, sh, sw, dh, dw, batch_last,
            1, 0);
}

/* dm_col2im2d for channels [c0, c1) whose columns alone are at ``col`` (channel c0's first):
 * the convolution's data gradient made a few channels at a time (their column gradient, then
 * its scatter-add, while those columns are still in cache) */
void dm_col2im2d_part(const float *col, float *buf, long c0, long c1, long N, long Hp,
                      long Wp, long OH, long OW, int kh, int kw, int sh, int sw, int dh,
                      int dw, int batch_last)
{
    lower2d(buf, (float *)col, c0, c1, N, Hp, Wp, OH, OW, kh, kw, sh, sw, dh, dw, batch_last,
            1, c0);
}

/* distmod's native kernels: BatchNorm and ReLU in as few passes over the data as they need.
 *
 * NumPy runs each of BatchNorm's steps (centre, square, scale, shift...) as its own pass over
 * the activations, and these passes, not arithmetic, are what BatchNorm costs.  Here each
 * loop does everything one pass can.  The data is (P, C, R) float32, contiguous: P outer
 * rows (the batch), C channels, R positions per channel (the spatial size).  Sums are kept in
 * eight float lanes along a row and added into double per row, so they neither depend on the
 * vector width nor lose precision over a large batch.
 *
 * Plain C (the compiler vectorises the loops for its default target); loaded with the
 * convolution kernels of shiftconv.c, as one shared object.
 */
#include <string.h>

/* sum over a row of a[i] (mode 0), (a[i] - m)^2 (mode 1), a[i] * (b[i] - m) (mode 2): one
 * loop per mode, eight independent lanes, which the compiler vectorises (a mode chosen inside
 * the loop keeps it scalar) */
static double row_sum(const float *a, const float *b, float m, long n, int mode)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long n8 = n / 8 * 8;
    if (mode == 0) {
        for (long i = 0; i < n8; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += a[i + j];
    } else if (mode == 1) {
        for (long i = 0; i < n8; i += 8)
            for (int j = 0; j < 8; j++) {
                float d = a[i + j] - m;
                acc[j] += d * d;
            }
    } else {
        for (long i = 0; i < n8; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += a[i + j] * (b[i + j] - m);
    }
    double s = ((double)acc[0] + acc[4] + acc[1] + acc[5]) + ((double)acc[2] + acc[6]
                                                             + acc[3] + acc[7]);
    for (long i = n8; i < n; i++)
        s += mode == 0 ? a[i] : mode == 1 ? (a[i] - m) * (a[i] - m) : a[i] * (b[i] - m);
    return s;
}

/* out[c] = the sum over rows p and positions of channel c of row_sum's ``mode``: a (and b)
 * (P, C, R), m per channel (mode 0 reads neither b nor m).  BatchNorm's statistics are modes
 * 0 then 1 (centred on the mean of the first), its gradient's sums modes 0 and 2. */
void dm_channel_sums(const float *a, const float *b, const float *m, long P, long C, long R,
                     int mode, double *out)
{
    for (long c = 0; c < C; c++)
        out[c] = 0.0;
    for (long p = 0; p < P; p++)
        for (long c = 0; c < C; c++) {
            long row = (p * C + c) * R;
            out[c] += row_sum(a + row, b ? b + row : 0, m ? m[c] : 0.0f, R, mode);
        }
}

/* y = (x - mean[c]) * scale[c] + shift[c], then max(y, 0) where relu (NaN stays NaN); y may
 * be x.  Centred first, as NumPy's steps are: a large mean does not cost precision. */
void dm_bn_apply(const float *x, long P, long C, long R, const float *mean,
                 const float *scale, const float *shift, float *y, int relu)
{
    for (long p = 0; p < P; p++)
        for (long c = 0; c < C; c++) {
            long row = (p * C + c) * R;
            const float *xr = x + row;
            float *yr = y + row;
            float m = mean[c], a = scale[c], b = shift[c];
            if (relu) {
                for (long i = 0; i < R; i++) {
                    float v = (xr[i] - m) * a + b;
                    yr[i] = (v > 0.0f || v != v) ? v : 0.0f;
                }
            } else {
                for (long i = 0; i < R; i++)
                    yr[i] = (xr[i] - m) * a + b;
            }
        }
}

/* dx = g * a[c] + (x - mean[c]) * b[c] + d[c]. */
void dm_bn_grad_apply(const float *g, const float *x, long P, long C, long R,
                      const float *mean, const float *a, const float *b, const float *d,
                      float *dx)
{
    for (long p = 0; p < P; p++)
        for (long c = 0; c < C; c++) {
            long row = (p * C + c) * R;
            const float *gr = g + row, *xr = x + row;
            float *o = dx + row;
            float m = mean[c], ac = a[c], bc = b[c], dc = d[c];
            for (long i = 0; i < R; i++)
                o[i] = gr[i] * ac + (xr[i] - m) * bc + dc;
        }
}

/* y = max(x, 0), NaN kept (NumPy's maximum); y may be x. */
void dm_relu(const float *x, float *y, long n)
{
    for (long i = 0; i < n; i++) {
        float v = x[i];
        y[i] = (v > 0.0f || v != v) ? v : 0.0f;
    }
}

/* dx = g * (y > 0), as a product: a NaN or infinite g where y <= 0 gives NaN, as NumPy's. */
void dm_relu_grad(const float *g, const float *y, float *dx, long n)
{
    for (long i = 0; i < n; i++) {
        float m = y[i] > 0.0f ? 1.0f : 0.0f;    /* a select, which vectorises; no branch */
        dx[i] = g[i] * m;
    }
}

/* dx = (1 - y * y) * g: tanh's gradient from its output, rounded after each operation as
 * NumPy's three passes round (no fused multiply-add: -std=c99 keeps contraction off). */
void dm_tanh_grad(const float *g, const float *y, float *dx, long n)
{
    for (long i = 0; i < n; i++) {
        float t = y[i] * y[i];
        t = 1.0f - t;
        dx[i] = t * g[i];
    }
}

/* dx = (1 - y) * y * g: the logistic function's gradient from its output, as NumPy rounds. */
void dm_sigmoid_grad(const float *g, const float *y, float *dx, long n)
{
    for (long i = 0; i < n; i++) {
        float t = 1.0f - y[i];
        t = t * y[i];
        dx[i] = t * g[i];
    }
}

/* rescale * grad, clipped to [-clip, clip] where clip >= 0 (NaN kept), times lr */
static inline float sgd_grad(float grad, float rescale, float clip, float lr)
{
    float g = grad * rescale;
    if (clip >= 0) {
        if (g < -clip)
            g = -clip;
        else if (g > clip)
            g = clip;
    }
    return g * lr;
}

/* One SGD step over n float32s, with NumPy's operations in NumPy's order (each rounded to
 * float32 on its own: compiled without contraction into FMAs), so the bits are those of
 * distmod's NumPy path (optimizer.SGD._step):
 *   g = grad * rescale; g = clip(g, -clip, clip) where clip >= 0 (NaN kept); g = g * lr;
 *   with momentum (mom not NULL): mom = mom * momentum; mom = mom - w * lrwd where lrwd is
 *     not 0; mom = mom - g; w = w + mom;
 *   without: w = w * decay where decay is not 1; w = w - g.
 * One pass instead of five, and no temporary. */
void dm_sgd_step(float *w, const float *grad, float *mom, long n, float rescale, float lr,
                 float momentum, float lrwd, float decay, float clip)
{
    if (mom) {
        for (long i = 0; i < n; i++) {
            float g = sgd_grad(grad[i], rescale, clip, lr);
            float m = mom[i] * momentum;
            if (lrwd != 0) {
                float t = w[i] * lrwd;
                m = m - t;
            }
            m = m - g;
            mom[i] = m;
            w[i] = w[i] + m;
        }
        return;
    }
    for (long i = 0; i < n; i++) {
        float g = sgd_grad(grad[i], rescale, clip, lr);
        float v = w[i];
        if (decay != 1)
            v = v * decay;
        w[i] = v - g;
    }
}

/* dst = src over a 4-D box of n0 x (b1 - b0) x n2 x n3 floats, the second axis from b0 to b1
 * (the part a thread takes), each array's strides in floats.  The convolutions' copies of a
 * batch into and out of their padded grids: NumPy's strided copy handles one innermost row
 * (24 floats for LeNet's first layer's output gradient) per loop call, and took 0.53 ms for
 * that gradient's 2.9 MB; here a row is a memcpy where both sides are contiguous. */
void dm_copy4d(const float *src, long s0, long s1, long s2, long s3, float *dst, long d0,
               long d1, long d2, long d3, long n0, long b0, long b1, long n2, long n3)
{
    for (long a = 0; a < n0; a++)
        for (long b = b0; b < b1; b++)
            for (long c = 0; c < n2; c++) {
                const float *s = src + a * s0 + b * s1 + c * s2;
                float *d = dst + a * d0 + b * d1 + c * d2;
                if (s3 == 1 && d3 == 1) {
                    memcpy(d, s, sizeof(float) * (size_t)n3);
                    continue;
                }
                for (long e = 0; e < n3; e++)
                    d[e * d3] = s[e * s3];
            }
}

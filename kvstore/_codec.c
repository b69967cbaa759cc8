/* Gradient compression's float32 encoder, one pass over the values (kvstore/compression.py
 * loads it with ctypes; where it is not built, and for float16 and float64 values, NumPy's
 * passes do the same).
 *
 * For every element: r = residual + value; 2bit sends +t where r >= t, -t where r <= -t,
 * else 0; 1bit sends +1 where r > t, else -1; the residual keeps r - sent.  The roundings are
 * NumPy's (one add, one subtract; built with -ffp-contract=off, so no fused multiply-add), so
 * the codes and the residuals are the NumPy path's, bit for bit.
 *
 * The codes are compression.py's packed layout, written as bytes: 2bit puts element i in
 * bits 2(i % 4) and 2(i % 4) + 1 of byte i / 4 (01 is +t, 10 is -t), 1bit in bit i % 8 of
 * byte i / 8 (1 is +1), in whole 32-bit words whose unused bits are 0.
 *
 * This file is kvstore's own: kvstore imports nothing of distmod (docs/architecture.md).
 */
#include <stdint.h>

#define KV_CODEC_ABI 1

int kv_codec_abi(void) { return KV_CODEC_ABI; }

/* In blocks of BLOCK elements: first the residuals and one code byte per element (a loop
 * without branches, which the compiler vectorises: random signs would mispredict half the
 * time), then the codes of the block packed 4 (2bit) or 8 (1bit) to a byte.  The residual
 * always loses what was sent, 0 included, as NumPy's subtraction does.  Codes go out byte by
 * byte, the packed layout itself (byte i / 4, bits 2(i % 4), for 2bit).  float32 only: with
 * doubles the compiler did not vectorise the narrowing to code bytes, and the loop ran 2.4-3.8
 * times slower than NumPy's passes (float64 stays with them). */
#define BLOCK 1024

/* m elements of one block (m a multiple of 16, or the last block); out: whole 32-bit words */
static void block2(const float *v, float *res, uint8_t *out, int m, float t)
{
    const float mt = -t, zero = 0.0f;
    uint8_t tmp[BLOCK];
    for (int j = 0; j < m; j++) {
        float r = res[j] + v[j];
        int up = r >= t, dn = r <= mt;
        float sent = up ? t : zero;
        sent = dn ? mt : sent;
        res[j] = r - sent;
        tmp[j] = (uint8_t)(up | (dn << 1));
    }
    int mm = (m + 15) / 16 * 16;
    for (int j = m; j < mm; j++)
        tmp[j] = 0;
    for (int k = 0; k < mm / 4; k++)
        out[k] = (uint8_t)(tmp[4 * k] | (tmp[4 * k + 1] << 2) | (tmp[4 * k + 2] << 4) |
                           (tmp[4 * k + 3] << 6));
}

static void block1(const float *v, float *res, uint8_t *out, int m, float t)
{
    uint8_t tmp[BLOCK];
    for (int j = 0; j < m; j++) {
        float r = res[j] + v[j];
        int up = r > t;
        res[j] = r - (up ? 1.0f : -1.0f);
        tmp[j] = (uint8_t)up;
    }
    int mm = (m + 31) / 32 * 32;
    for (int j = m; j < mm; j++)
        tmp[j] = 0;
    for (int k = 0; k < mm / 8; k++) {
        const uint8_t *b = tmp + 8 * k;
        out[k] = (uint8_t)(b[0] | (b[1] << 1) | (b[2] << 2) | (b[3] << 3) | (b[4] << 4) |
                           (b[5] << 5) | (b[6] << 6) | (b[7] << 7));
    }
}

static void encode(const float *values, float *residual, uint8_t *codes, int64_t n,
                   double threshold, int bits)
{
    const float t = (float)threshold;
    for (int64_t base = 0; base < n; base += BLOCK) {
        int m = n - base < BLOCK ? (int)(n - base) : BLOCK;
        if (bits == 2)
            block2(values + base, residual + base, codes + base / 4, m, t);
        else
            block1(values + base, residual + base, codes + base / 8, m, t);
    }
}

void kv_encode2_f32(const float *values, float *residual, uint8_t *codes, int64_t n,
                    double threshold)
{
    encode(values, residual, codes, n, threshold, 2);
}

void kv_encode1_f32(const float *values, float *residual, uint8_t *codes, int64_t n,
                    double threshold)
{
    encode(values, residual, codes, n, threshold, 1);
}

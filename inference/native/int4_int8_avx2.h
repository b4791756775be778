// int4 x int8 on AVX2 CPUs without AVX-512 (Zen 2/3, Intel client CPUs since Alder Lake): the
// block kernel for torch's AVX2 int4 layout, included by int4_int8.cpp.
//
// Layout: rows in blocks of 32; block b is K runs of 16 bytes, one per input feature k; in a run,
// the low nibble of byte j is row j and the high nibble row j + 16.
//
// AVX2 has no VPDPBUSD. VPMADDUBSW multiplies unsigned by signed bytes and sums pairs into int16;
// a weight nibble (0..15) times an int8 input (-127..127), two of them, is at most 3810, so eight
// such sums (32 features) still fit in int16 before they are widened to int32. Several input
// rows: a group's weights are split once into `buf` (in L1) and every row reads them from there
// (`block`). One row (decoding): `block_one` unpacks them in registers, 1.2-1.4x faster than
// splitting for it alone. Either way one core streams ~10 GB/s from memory where a plain read
// streams 16 (9-10 cycles per 64 bytes of weights from L2): the unpacking, not the memory, is the
// limit on this two-core machine.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#define SEESAY_AVX2_TARGET __attribute__((target("avx2,fma")))

namespace seesay_avx2 {

constexpr int64_t kBlock = 32;  // rows per block of torch's layout on AVX2 machines
constexpr int kRows = 2;        // input rows per pass over a split group (more spill the 16 registers)
constexpr int kSumSteps = 8;    // 4-feature steps summed in int16 before widening (8 x 3810 < 32767)

// Where row r of a block lands in the kernel's output order: vector i of `split` holds rows
// 4i..4i+3 in its low lane and 16+4i..16+4i+3 in its high lane.
inline int position(int r) {
  const int half = r / 16, rr = r % 16;
  return 8 * (rr / 4) + rr % 4 + 4 * half;
}

// Features k..k+3 of a block (64 bytes at w) as 4 vectors of 8 rows x 4 unsigned bytes.
SEESAY_AVX2_TARGET inline void split(const uint8_t* w, __m256i* out) {
  const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4), mask = _mm256_set1_epi8(15);
  __m256i a[4];  // feature f: rows 0-15 (low nibbles) | rows 16-31 (high nibbles)
  for (int f = 0; f < 4; ++f) {
    const __m256i run = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16 * f)));
    a[f] = _mm256_and_si256(_mm256_srlv_epi32(run, shift), mask);
  }
  const __m256i lo01 = _mm256_unpacklo_epi8(a[0], a[1]), hi01 = _mm256_unpackhi_epi8(a[0], a[1]);
  const __m256i lo23 = _mm256_unpacklo_epi8(a[2], a[3]), hi23 = _mm256_unpackhi_epi8(a[2], a[3]);
  out[0] = _mm256_unpacklo_epi16(lo01, lo23);
  out[1] = _mm256_unpackhi_epi16(lo01, lo23);
  out[2] = _mm256_unpacklo_epi16(hi01, hi23);
  out[3] = _mm256_unpackhi_epi16(hi01, hi23);
}

// R input rows' int8 values for a group (4 * steps features; xq rows `stride` apart) times the
// split group: int32 dot products per output row, in `split`'s order. Each split vector loaded
// feeds R rows.
template <int R>
SEESAY_AVX2_TARGET inline void group_dot(const __m256i* buf, int64_t steps, const int8_t* xq, int64_t stride,
                                         __m256i dot[][4]) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < 4; ++i) dot[r][i] = _mm256_setzero_si256();
  for (int64_t s0 = 0; s0 < steps; s0 += kSumSteps) {
    const int64_t s1 = std::min<int64_t>(steps, s0 + kSumSteps);
    __m256i part[R][4];
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < 4; ++i) part[r][i] = _mm256_setzero_si256();
    for (int64_t s = s0; s < s1; ++s) {
      __m256i xb[R];
      for (int r = 0; r < R; ++r) {
        int32_t four;
        std::memcpy(&four, xq + r * stride + 4 * s, sizeof four);
        xb[r] = _mm256_set1_epi32(four);
      }
      for (int i = 0; i < 4; ++i) {
        const __m256i w = _mm256_load_si256(buf + 4 * s + i);
        for (int r = 0; r < R; ++r) part[r][i] = _mm256_add_epi16(part[r][i], _mm256_maddubs_epi16(w, xb[r]));
      }
    }
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < 4; ++i) dot[r][i] = _mm256_add_epi32(dot[r][i], _mm256_madd_epi16(part[r][i], ones));
  }
}

// A group's (scale, shift) bf16 pairs for the block's 32 rows, in `split`'s order: scale and
// shift - 8 scale.
SEESAY_AVX2_TARGET inline void group_scales(const uint16_t* pairs, __m256 s[4], __m256 zs[4]) {
  __m256i p[4];  // rows 0-7, 8-15, 16-23, 24-31
  for (int j = 0; j < 4; ++j) p[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pairs + 16 * j));
  for (int i = 0; i < 4; ++i) {
    const __m256i v = i % 2 == 0 ? _mm256_permute2x128_si256(p[i / 2], p[2 + i / 2], 0x20)
                                 : _mm256_permute2x128_si256(p[i / 2], p[2 + i / 2], 0x31);
    s[i] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    const __m256 z = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(int32_t(0xFFFF0000u))));
    zs[i] = _mm256_fnmadd_ps(_mm256_set1_ps(8.f), s[i], z);
  }
}

// Where row r lands in `block_one`'s order: per 8 rows, the even ones, then the odd ones.
inline int position_one(int r) { return 8 * (r / 8) + (r % 2 ? 4 + r % 8 / 2 : r % 8 / 2); }

// One input row (decoding) needs no split copy: two 32-byte loads hold features k..k+3 (runs
// k | k+1 and k+2 | k+3), and unpacking their nibbles pairs each row's features k and k+2 in the
// low lane, k+1 and k+3 in the high one, so VPMADDUBSW takes them straight from the registers
// with the input pairs arranged to match. Output rows [n0, n0 + 32) in `position_one`'s order,
// added into acc (float [32]).
SEESAY_AVX2_TARGET void block_one(const uint8_t* blk, const uint16_t* scale_shift, const int8_t* xq, const float* sx,
                                  const float* sx_sum, int64_t K, int64_t N, int64_t group, int64_t n0, float* acc) {
  const int64_t G = K / group, steps = group / 4;
  const __m256i mask = _mm256_set1_epi8(15);
  // (x_k, x_k+2) in every 16-bit pair of the low lane, (x_k+1, x_k+3) in the high lane
  const __m256i pairs = _mm256_setr_epi8(0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 2,
                                         1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3);
  const __m256i even_odd = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  for (int64_t g = 0; g < G; ++g) {
    const uint8_t* w = blk + g * group * 16;
    const int8_t* xg = xq + g * group;
    __m256i dot[4];  // rows 8i..8i+7, even then odd
    for (int i = 0; i < 4; ++i) dot[i] = _mm256_setzero_si256();
    for (int64_t s0 = 0; s0 < steps; s0 += kSumSteps) {
      const int64_t s1 = std::min<int64_t>(steps, s0 + kSumSteps);
      __m256i part[4];  // int16: rows 8i..8i+7 in each lane (the lanes hold different features)
      for (int i = 0; i < 4; ++i) part[i] = _mm256_setzero_si256();
      for (int64_t s = s0; s < s1; ++s) {
        const uint8_t* at = w + 64 * s;
        _mm_prefetch(reinterpret_cast<const char*>(at) + 1024, _MM_HINT_T0);
        const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
        const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at + 32));
        const __m256i l0 = _mm256_and_si256(v0, mask), l1 = _mm256_and_si256(v1, mask);
        const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), mask);
        const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), mask);
        int32_t four;
        std::memcpy(&four, xg + 4 * s, sizeof four);
        const __m256i xb = _mm256_shuffle_epi8(_mm256_set1_epi32(four), pairs);
        part[0] = _mm256_add_epi16(part[0], _mm256_maddubs_epi16(_mm256_unpacklo_epi8(l0, l1), xb));
        part[1] = _mm256_add_epi16(part[1], _mm256_maddubs_epi16(_mm256_unpackhi_epi8(l0, l1), xb));
        part[2] = _mm256_add_epi16(part[2], _mm256_maddubs_epi16(_mm256_unpacklo_epi8(h0, h1), xb));
        part[3] = _mm256_add_epi16(part[3], _mm256_maddubs_epi16(_mm256_unpackhi_epi8(h0, h1), xb));
      }
      for (int i = 0; i < 4; ++i) {  // widen: even rows, odd rows; then add the two lanes
        const __m256i even = _mm256_srai_epi32(_mm256_slli_epi32(part[i], 16), 16);
        const __m256i odd = _mm256_srai_epi32(part[i], 16);
        dot[i] = _mm256_add_epi32(dot[i], _mm256_add_epi32(_mm256_permute2x128_si256(even, odd, 0x20),
                                                           _mm256_permute2x128_si256(even, odd, 0x31)));
      }
    }
    const __m256 a = _mm256_set1_ps(sx[g]), b = _mm256_set1_ps(sx_sum[g]);
    const uint16_t* ss = scale_shift + (g * N + n0) * 2;
    for (int i = 0; i < 4; ++i) {
      const __m256i p = _mm256_permutevar8x32_epi32(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ss + 16 * i)), even_odd);
      const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(p, 16));
      const __m256 shift = _mm256_castsi256_ps(_mm256_and_si256(p, _mm256_set1_epi32(int32_t(0xFFFF0000u))));
      const __m256 zs = _mm256_fnmadd_ps(_mm256_set1_ps(8.f), scale, shift);
      const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[i]), _mm256_mul_ps(scale, a), _mm256_loadu_ps(acc + 8 * i));
      _mm256_storeu_ps(acc + 8 * i, _mm256_fmadd_ps(zs, b, v));
    }
  }
}

// Output rows [n0, n0 + 32) for all M input rows, added into acc (float [M][32] in `split`'s
// order, zeroed by the caller). xq: int8 [M][K]; sx, sx_sum: [M][K / group]; buf: group / 4 * 4
// vectors of scratch.
SEESAY_AVX2_TARGET void block(const uint8_t* blk, const uint16_t* scale_shift, const int8_t* xq, const float* sx,
                              const float* sx_sum, int64_t M, int64_t K, int64_t N, int64_t group, int64_t n0,
                              __m256i* buf, float* acc) {
  const int64_t G = K / group, steps = group / 4;
  for (int64_t g = 0; g < G; ++g) {
    const uint8_t* w = blk + g * group * 16;
    for (int64_t s = 0; s < steps; ++s) {
      _mm_prefetch(reinterpret_cast<const char*>(w + 64 * s) + 1024, _MM_HINT_T0);
      split(w + 64 * s, buf + 4 * s);
    }
    __m256 s[4], zs[4];
    group_scales(scale_shift + (g * N + n0) * 2, s, zs);
    for (int64_t m = 0; m < M; m += kRows) {
      const int rows = int(std::min<int64_t>(kRows, M - m));
      __m256i dot[kRows][4];
      if (rows == kRows) group_dot<kRows>(buf, steps, xq + m * K + g * group, K, dot);
      else group_dot<1>(buf, steps, xq + m * K + g * group, K, dot);
      for (int r = 0; r < rows; ++r) {
        const int64_t at = (m + r) * G + g;
        const __m256 a = _mm256_set1_ps(sx[at]), b = _mm256_set1_ps(sx_sum[at]);
        float* o = acc + (m + r) * kBlock;
        for (int i = 0; i < 4; ++i) {
          __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r][i]), _mm256_mul_ps(s[i], a), _mm256_loadu_ps(o + 8 * i));
          _mm256_storeu_ps(o + 8 * i, _mm256_fmadd_ps(zs[i], b, v));
        }
      }
    }
  }
}

}  // namespace seesay_avx2

// int4 weights held in torch's CPU int4 layout times int8-quantized inputs: decoding, follow-ups,
// audio while speaking and prompts of up to ~1000 tokens (inference/int4_int8.py routes them).
//
// Why: torch's int4 CPU kernel converts every weight to float and multiplies it in float: about
// three times the instructions per weight byte that memory can deliver, so decoding runs at
// ~15 GB/s of a ~25 GB/s machine, and 25 rows cost 25 times one row (bench/README.md). Here the
// input is quantized to int8 per weight group (absmax / 127), and each 128 bytes of packed weights
// (4 input features x 64 rows) are split into nibbles once: two byte permutes put the 4 features of
// one row into one 32-bit lane, a mask and a shift split the nibbles. A few input rows then take 4
// VPDPBUSD (AVX512-VNNI) per row; 8 rows or more take AMX tiles (block_amx). Per group:
// out += s * sx * sum(q * xq) + (shift - 8 s) * sx * sum(xq), which is the dot product of the
// dequantized weight with the quantized input, exactly, in int32 then float.
//
// Layout (the one inference/int4_unpack.py checks against torch): rows in blocks of 64; block b is
// K runs of 32 bytes, one per input feature k; in a run, the low nibble of byte j is row j of the
// block and the high nibble row j + 32. Scales and shifts: bf16 [K / group, N, 2];
// weight = (q - 8) * scale + shift.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 10)
#include <immintrin.h>
#define SEESAY_VNNI 1
#define SEESAY_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi")))
#if defined(__linux__) && ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11))
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define SEESAY_AMX 1  // AMX intrinsics: GCC 11, clang 12; the OS grants the tile state on request (Linux 5.16)
#define SEESAY_AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi,amx-tile,amx-int8")))
#endif
#include "int4_int8_avx2.h"  // CPUs with AVX2 but not AVX-512: torch's 32-row layout
#endif

namespace {

constexpr int64_t kBlock = 64;  // rows per block of torch's layout on AVX-512 machines
constexpr int kTile = 4;        // input rows multiplied per pass over a block's weights
constexpr int64_t kAmxMaxGroup = 256;  // a group's B tiles (4 KB per 64 features) stay on the stack
constexpr int kAhead = 2048;    // bytes prefetched ahead in a block (prefetch_weights)

inline float from_bf16(uint16_t bits) {
  uint32_t wide = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

// x (bf16 [M, K]) as int8 per group of `group` features: xq (rows padded with zeros to a whole
// AMX tile), the group's scale sx, and sx * sum(xq) (what the weight's shift multiplies).
struct Quantized {
  std::vector<int8_t> xq;
  std::vector<float> sx, sx_sum;
};

// From the largest |x| of a group, as float bits (which order like the floats for |x|): the
// factor to int8 and the group's scale. A NaN or inf makes the scale NaN, so it reaches the
// output as torch's kernel would pass it on (absmax would drop a NaN); a group too small for
// 127 / absmax to be finite counts as zeros.
struct GroupScale {
  float inverse, sx;
};

inline GroupScale group_scale(uint32_t top_bits) {
  if (top_bits >= 0x7F800000u) return {0.f, std::nanf("")};
  float absmax;
  std::memcpy(&absmax, &top_bits, sizeof absmax);
  if (absmax < 1e-30f) return {0.f, 0.f};
  return {127.f / absmax, absmax / 127.f};
}

void quantize_group(const uint16_t* src, int64_t group, int8_t* dst, float* sx, float* sx_sum) {
  uint32_t top = 0;
  for (int64_t i = 0; i < group; ++i) top = std::max<uint32_t>(top, (uint32_t(src[i]) << 16) & 0x7FFFFFFFu);
  const GroupScale scale = group_scale(top);
  int32_t sum = 0;
  for (int64_t i = 0; i < group; ++i) {
    const int32_t v = scale.inverse == 0.f ? 0 : int32_t(std::nearbyint(from_bf16(src[i]) * scale.inverse));
    dst[i] = int8_t(v);  // half to even, as cvtps below and torch.round in the reference
    sum += v;
  }
  *sx = scale.sx;
  *sx_sum = scale.sx * float(sum);
}

#ifdef SEESAY_VNNI
// The same, 16 values per instruction (group % 16 == 0); cvtps rounds half to even as nearbyint.
SEESAY_TARGET void quantize_group16(const uint16_t* src, int64_t group, int8_t* dst, float* sx, float* sx_sum) {
  const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
  __m512i top = _mm512_setzero_si512();
  for (int64_t i = 0; i < group; i += 16) {
    const __m512i bits = _mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))), 16);
    top = _mm512_max_epu32(top, _mm512_and_si512(bits, magnitude));
  }
  const GroupScale scale = group_scale(uint32_t(_mm512_reduce_max_epu32(top)));
  const __m512 inverse = _mm512_set1_ps(scale.inverse);
  __m512i sum = _mm512_setzero_si512();
  for (int64_t i = 0; i < group; i += 16) {
    const __m512 v = _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))), 16));
    const __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(v, inverse));
    sum = _mm512_add_epi32(sum, r);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm512_cvtepi32_epi8(r));
  }
  *sx = scale.sx;
  *sx_sum = scale.sx * float(_mm512_reduce_add_epi32(sum));
}

// The same, 8 values per instruction on AVX2 (group % 8 == 0).
SEESAY_AVX2_TARGET void quantize_group8(const uint16_t* src, int64_t group, int8_t* dst, float* sx, float* sx_sum) {
  const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF);
  __m256i top = _mm256_setzero_si256();
  for (int64_t i = 0; i < group; i += 8) {
    const __m256i bits = _mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))), 16);
    top = _mm256_max_epu32(top, _mm256_and_si256(bits, magnitude));
  }
  alignas(32) uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), top);
  const GroupScale scale = group_scale(*std::max_element(lanes, lanes + 8));
  const __m256 inverse = _mm256_set1_ps(scale.inverse);
  __m256i sum = _mm256_setzero_si256();
  for (int64_t i = 0; i < group; i += 8) {
    const __m256 v = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))), 16));
    const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(v, inverse));
    sum = _mm256_add_epi32(sum, r);
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + i), _mm_packs_epi16(words, words));
  }
  alignas(32) int32_t sums[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(sums), sum);
  int32_t total = 0;
  for (int32_t v : sums) total += v;
  *sx = scale.sx;
  *sx_sum = scale.sx * float(total);
}
#endif

enum class Isa { plain, avx2, avx512 };

Quantized quantize_rows(const uint16_t* x, int64_t M, int64_t K, int64_t group, Isa isa) {
  const int64_t G = K / group, padded = (M + 15) / 16 * 16;
  Quantized q{std::vector<int8_t>(padded * K, 0), std::vector<float>(M * G), std::vector<float>(M * G)};
  at::parallel_for(0, M, 16, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t g = 0; g < G; ++g) {
        const uint16_t* src = x + m * K + g * group;
        int8_t* dst = q.xq.data() + m * K + g * group;
#ifdef SEESAY_VNNI
        if (isa == Isa::avx512) {
          quantize_group16(src, group, dst, &q.sx[m * G + g], &q.sx_sum[m * G + g]);
          continue;
        }
        if (isa == Isa::avx2) {
          quantize_group8(src, group, dst, &q.sx[m * G + g], &q.sx_sum[m * G + g]);
          continue;
        }
#endif
        quantize_group(src, group, dst, &q.sx[m * G + g], &q.sx_sum[m * G + g]);
      }
  });
  return q;
}

#ifdef SEESAY_VNNI
// 128 bytes of a block (features k..k+3 of its 64 rows) as 4 x 16 lanes of 4 unsigned bytes:
// out[i] lane j holds features k..k+3 of row 16 i + j.
struct Nibbles {
  __m512i idx0, idx1, mask;
};

SEESAY_TARGET inline Nibbles nibble_setup() {
  // Bytes [j k0, j k1, j k2, j k3] for j = 0..15 (idx0) and 16..31 (idx1) of 4 runs of 32 bytes.
  alignas(64) uint8_t order0[64], order1[64];
  for (int j = 0; j < 16; ++j)
    for (int k = 0; k < 4; ++k) {
      order0[4 * j + k] = uint8_t(32 * k + j);
      order1[4 * j + k] = uint8_t(32 * k + j + 16);
    }
  return {_mm512_load_si512(order0), _mm512_load_si512(order1), _mm512_set1_epi8(15)};
}

SEESAY_TARGET inline void split(const Nibbles& n, const uint8_t* w, __m512i out[4]) {
  const __m512i v0 = _mm512_loadu_si512(w), v1 = _mm512_loadu_si512(w + 64);
  const __m512i p0 = _mm512_permutex2var_epi8(v0, n.idx0, v1), p1 = _mm512_permutex2var_epi8(v0, n.idx1, v1);
  out[0] = _mm512_and_si512(p0, n.mask);  // low nibbles: rows 0-15, 16-31; high: rows 32-47, 48-63
  out[1] = _mm512_and_si512(p1, n.mask);
  out[2] = _mm512_and_si512(_mm512_srli_epi16(p0, 4), n.mask);
  out[3] = _mm512_and_si512(_mm512_srli_epi16(p1, 4), n.mask);
}

// Weights ahead of w: into L1 for the next iterations, into L2 further on (16 -> 20.4 GB/s at one
// row on 2 cores, against ~25 GB/s a plain read gets).
inline void prefetch_weights(const uint8_t* w) {
  const char* p = reinterpret_cast<const char*>(w);
  _mm_prefetch(p + kAhead, _MM_HINT_T0);
  _mm_prefetch(p + kAhead + 64, _MM_HINT_T0);
  _mm_prefetch(p + 3 * kAhead, _MM_HINT_T1);
  _mm_prefetch(p + 3 * kAhead + 64, _MM_HINT_T1);
}

// A group's scales for one block: 256 bytes, a whole row of groups (N * 4 bytes) after the last.
inline void prefetch_scales(const uint16_t* pairs) {
  const char* p = reinterpret_cast<const char*>(pairs);
  for (int line = 0; line < 4; ++line) _mm_prefetch(p + 64 * line, _MM_HINT_T0);
}

// A group's 16 (scale, shift) bf16 pairs for rows 16 i .. 16 i + 15: scale and shift - 8 scale.
SEESAY_TARGET inline void group_scales(const uint16_t* pairs16, __m512& s, __m512& zs) {
  const __m512i pairs = _mm512_loadu_si512(pairs16);
  s = _mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));
  const __m512 z = _mm512_castsi512_ps(_mm512_and_si512(pairs, _mm512_set1_epi32(int32_t(0xFFFF0000u))));
  zs = _mm512_fnmadd_ps(_mm512_set1_ps(8.f), s, z);
}

// Output rows [n0, n0 + 64) for input rows [m0, m0 + T) into acc (float [T][64]), VPDPBUSD.
template <int T>
SEESAY_TARGET void block_tile(const uint8_t* block, const uint16_t* scale_shift, const Quantized& q,
                              int64_t m0, int64_t K, int64_t N, int64_t group, int64_t n0, float* acc) {
  const Nibbles nib = nibble_setup();
  const int64_t G = K / group;
  __m512 out[T][4];
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 4; ++i) out[t][i] = _mm512_setzero_ps();
  for (int64_t g = 0; g < G; ++g) {
    if (g + 1 < G) prefetch_scales(scale_shift + ((g + 1) * N + n0) * 2);
    __m512i dot[T][4];
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < 4; ++i) dot[t][i] = _mm512_setzero_si512();
    for (int64_t k = g * group; k < (g + 1) * group; k += 4) {
      const uint8_t* w = block + k * 32;
      prefetch_weights(w);
      __m512i wq[4];
      split(nib, w, wq);
      for (int t = 0; t < T; ++t) {
        int32_t four;
        std::memcpy(&four, q.xq.data() + (m0 + t) * K + k, sizeof four);
        const __m512i xb = _mm512_set1_epi32(four);
        for (int i = 0; i < 4; ++i) dot[t][i] = _mm512_dpbusd_epi32(dot[t][i], wq[i], xb);
      }
    }
    const uint16_t* ss = scale_shift + (g * N + n0) * 2;
    for (int i = 0; i < 4; ++i) {
      __m512 s, zs;
      group_scales(ss + 32 * i, s, zs);
      for (int t = 0; t < T; ++t) {
        const int64_t at = (m0 + t) * G + g;
        const __m512 scaled = _mm512_mul_ps(s, _mm512_set1_ps(q.sx[at]));
        out[t][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][i]), scaled, out[t][i]);
        out[t][i] = _mm512_fmadd_ps(zs, _mm512_set1_ps(q.sx_sum[at]), out[t][i]);
      }
    }
  }
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 4; ++i) _mm512_storeu_ps(acc + t * kBlock + 16 * i, out[t][i]);
}

bool cpu_has_vnni() {
  return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("avx512vbmi");
}
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
bool cpu_has_vnni() { return false; }
bool cpu_has_avx2() { return false; }
#endif

#ifdef SEESAY_AMX
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

bool cpu_has_amx() {
  unsigned a, b, c, d;
  if (!cpu_has_vnni() || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  if (!(d & (1u << 24)) || !(d & (1u << 25))) return false;  // AMX-TILE, AMX-INT8
  // Linux gives a process the 8 KB tile state only once it asks (ARCH_REQ_XCOMP_PERM, XTILEDATA).
  static const bool granted = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  return granted;
}

// Output rows [n0, n0 + 64) for all input rows into acc (float [M][64], zeroed by the caller):
// tiles 0-3 accumulate int32 [16 input rows][16 output rows] for rows 16 c .. 16 c + 15 (TDPBSUD:
// signed input bytes x unsigned weight bytes), tile 4 holds 16 input rows x 64 features, tile 5
// one B tile: 16 feature quads x 16 output rows, as `split` leaves them. Groups of 64 k or more.
SEESAY_AMX_TARGET void block_amx(const uint8_t* block, const uint16_t* scale_shift, const Quantized& q, int64_t M,
                                 int64_t K, int64_t N, int64_t group, int64_t n0, uint8_t* b_tiles,
                                 int32_t* c_tiles, float* acc) {
  const Nibbles nib = nibble_setup();
  const int64_t G = K / group, chunks = group / 64;
  for (int64_t g = 0; g < G; ++g) {
    if (g + 1 < G) prefetch_scales(scale_shift + ((g + 1) * N + n0) * 2);
    for (int64_t ch = 0; ch < chunks; ++ch)  // this group's weights as B tiles [chunk][c][16 quads][64 bytes]
      for (int64_t quad = 0; quad < 16; ++quad) {
        const uint8_t* w = block + (g * group + ch * 64 + 4 * quad) * 32;
        prefetch_weights(w);
        __m512i wq[4];
        split(nib, w, wq);
        for (int c = 0; c < 4; ++c) _mm512_store_si512(b_tiles + ((ch * 4 + c) * 16 + quad) * 64, wq[c]);
      }
    __m512 s[4], zs[4];
    for (int c = 0; c < 4; ++c) group_scales(scale_shift + (g * N + n0) * 2 + 32 * c, s[c], zs[c]);
    for (int64_t m0 = 0; m0 < M; m0 += 16) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t ch = 0; ch < chunks; ++ch) {
        _tile_loadd(4, q.xq.data() + m0 * K + g * group + ch * 64, K);
        _tile_loadd(5, b_tiles + (ch * 4 + 0) * 1024, 64);
        _tile_dpbsud(0, 4, 5);
        _tile_loadd(5, b_tiles + (ch * 4 + 1) * 1024, 64);
        _tile_dpbsud(1, 4, 5);
        _tile_loadd(5, b_tiles + (ch * 4 + 2) * 1024, 64);
        _tile_dpbsud(2, 4, 5);
        _tile_loadd(5, b_tiles + (ch * 4 + 3) * 1024, 64);
        _tile_dpbsud(3, 4, 5);
      }
      _tile_stored(0, c_tiles, 64);
      _tile_stored(1, c_tiles + 256, 64);
      _tile_stored(2, c_tiles + 512, 64);
      _tile_stored(3, c_tiles + 768, 64);
      const int64_t rows = std::min<int64_t>(16, M - m0);
      for (int64_t t = 0; t < rows; ++t) {
        const int64_t at = (m0 + t) * G + g;
        const __m512 sx = _mm512_set1_ps(q.sx[at]), sx_sum = _mm512_set1_ps(q.sx_sum[at]);
        float* a = acc + (m0 + t) * kBlock;
        for (int c = 0; c < 4; ++c) {
          const __m512 dot = _mm512_cvtepi32_ps(_mm512_load_si512(c_tiles + c * 256 + t * 16));
          __m512 v = _mm512_fmadd_ps(dot, _mm512_mul_ps(s[c], sx), _mm512_loadu_ps(a + 16 * c));
          _mm512_storeu_ps(a + 16 * c, _mm512_fmadd_ps(zs[c], sx_sum, v));
        }
      }
    }
  }
}

SEESAY_AMX_TARGET void tiles_on() {
  TileConfig config;
  for (int t = 0; t < 6; ++t) {
    config.rows[t] = 16;
    config.colsb[t] = 64;
  }
  // GCC 12 does not see that ldtilecfg reads the config and drops the stores above without this.
  asm volatile("" : : "r"(&config) : "memory");
  _tile_loadconfig(&config);
}

SEESAY_AMX_TARGET void tiles_off() { _tile_release(); }
#else
bool cpu_has_amx() { return false; }
#endif

}  // namespace

bool supported() { return cpu_has_vnni(); }
bool avx2_supported() { return cpu_has_avx2(); }
bool amx_supported() { return cpu_has_amx(); }

// Write acc (float [rows][width], + bias) to out rows [m0, m0 + rows), columns [n0, n0 + width),
// as bf16; order[j] is where row j of the block is in acc (nullptr: in order).
void store_rows(const float* acc, int64_t rows, int64_t width, const int* order, const uint16_t* bias, uint16_t* dst,
                int64_t m0, int64_t N, int64_t n0) {
  for (int64_t t = 0; t < rows; ++t) {
    uint16_t* row = dst + (m0 + t) * N + n0;
    for (int64_t j = 0; j < width; ++j) {
      const float v = acc[t * width + (order ? order[j] : j)] + (bias ? from_bf16(bias[n0 + j]) : 0.f);
      row[j] = c10::BFloat16(v).x;  // round to nearest even
    }
  }
}

#ifdef SEESAY_VNNI
// The AVX2 path: 32-row blocks, every input row against a group's weights split once.
void linear_avx2(const Quantized& q, const uint8_t* weights, const uint16_t* ss, const uint16_t* b, uint16_t* dst,
                 int64_t M, int64_t K, int64_t N, int64_t group) {
  using seesay_avx2::kBlock;
  const bool one = M == 1;  // decoding: straight from the loaded weights (block_one)
  int order[kBlock];
  for (int r = 0; r < kBlock; ++r) order[r] = one ? seesay_avx2::position_one(r) : seesay_avx2::position(r);
  at::parallel_for(0, N / kBlock, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> acc(M * kBlock);
    std::vector<uint8_t> raw(group * 32 + 32);  // group / 4 steps x 4 vectors, 32-byte aligned
    __m256i* buf = reinterpret_cast<__m256i*>((reinterpret_cast<uintptr_t>(raw.data()) + 31) & ~uintptr_t(31));
    for (int64_t blk = b0; blk < b1; ++blk) {
      std::fill(acc.begin(), acc.end(), 0.f);
      if (one)
        seesay_avx2::block_one(weights + blk * K * 16, ss, q.xq.data(), q.sx.data(), q.sx_sum.data(), K, N, group,
                               blk * kBlock, acc.data());
      else
        seesay_avx2::block(weights + blk * K * 16, ss, q.xq.data(), q.sx.data(), q.sx_sum.data(), M, K, N, group,
                           blk * kBlock, buf, acc.data());
      store_rows(acc.data(), M, kBlock, order, b, dst, 0, N, blk * kBlock);
    }
  });
}
#endif

// x @ W^T (+ bias) for bf16 x [M, K] and W packed in torch's CPU int4 layout: blocks of 64 rows
// (AVX-512 machines; VNNI, AMX) or of 32 (AVX2 machines; block_rows says which).
// amx_from: inputs of this many rows or more use AMX tiles where the CPU has them (groups of 64 to
// 256 features); fewer, VPDPBUSD. A negative value never uses AMX (the tests compare both).
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& packed, const torch::Tensor& scale_shift,
                     int64_t group, const c10::optional<torch::Tensor>& bias, int64_t amx_from, int64_t block_rows) {
  TORCH_CHECK(block_rows == kBlock || block_rows == 32, "block_rows: 64 or 32");
  const bool avx2 = block_rows == 32;
  TORCH_CHECK(avx2 ? cpu_has_avx2() : cpu_has_vnni(), avx2 ? "this CPU has no AVX2 / FMA" : "this CPU has no AVX512-VNNI");
  TORCH_CHECK(x.scalar_type() == torch::kBFloat16 && x.dim() == 2 && x.is_contiguous(), "x: bf16 [M, K]");
  TORCH_CHECK(packed.scalar_type() == torch::kUInt8 && packed.dim() == 2 && packed.is_contiguous(), "packed");
  const int64_t M = x.size(0), K = x.size(1), N = packed.size(0);
  TORCH_CHECK(packed.size(1) * 2 == K && N % block_rows == 0, "unsupported shape");
  TORCH_CHECK(group > 0 && group % 16 == 0 && K % group == 0, "unsupported group size");
  TORCH_CHECK(scale_shift.scalar_type() == torch::kBFloat16 && scale_shift.is_contiguous() &&
                  scale_shift.numel() == K / group * N * 2, "scale_shift: bf16 [K / group, N, 2]");
  TORCH_CHECK(!bias || (bias->scalar_type() == torch::kBFloat16 && bias->numel() == N && bias->is_contiguous()),
              "bias: bf16 [N]");
  auto out = torch::empty({M, N}, x.options());
  if (M == 0) return out;
#ifdef SEESAY_VNNI
  const Quantized q = quantize_rows(reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>()), M, K, group,
                                    cpu_has_vnni() ? Isa::avx512 : Isa::avx2);
  const uint8_t* weights = packed.data_ptr<uint8_t>();
  const uint16_t* ss = reinterpret_cast<const uint16_t*>(scale_shift.data_ptr<at::BFloat16>());
  const uint16_t* b = bias ? reinterpret_cast<const uint16_t*>(bias->data_ptr<at::BFloat16>()) : nullptr;
  uint16_t* dst = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  if (avx2) {
    linear_avx2(q, weights, ss, b, dst, M, K, N, group);
    return out;
  }
#ifdef SEESAY_AMX
  if (amx_from >= 0 && M >= amx_from && group % 64 == 0 && group <= kAmxMaxGroup && cpu_has_amx()) {
    at::parallel_for(0, N / kBlock, 1, [&](int64_t b0, int64_t b1) {
      std::vector<float> acc(M * kBlock);
      alignas(64) int32_t c_tiles[4 * 256];
      alignas(64) uint8_t b_tiles[kAmxMaxGroup / 64 * 4096];
      tiles_on();
      for (int64_t blk = b0; blk < b1; ++blk) {
        std::fill(acc.begin(), acc.end(), 0.f);
        block_amx(weights + blk * K * 32, ss, q, M, K, N, group, blk * kBlock, b_tiles, c_tiles, acc.data());
        store_rows(acc.data(), M, kBlock, nullptr, b, dst, 0, N, blk * kBlock);
      }
      tiles_off();
    });
    return out;
  }
#endif
  at::parallel_for(0, N / kBlock, 1, [&](int64_t b0, int64_t b1) {
    alignas(64) float acc[kTile * kBlock];
    for (int64_t blk = b0; blk < b1; ++blk) {
      const uint8_t* block = weights + blk * K * 32;
      const int64_t n0 = blk * kBlock;
      for (int64_t m0 = 0; m0 < M; m0 += kTile) {
        const int64_t rows = std::min<int64_t>(kTile, M - m0);
        switch (rows) {
          case 4: block_tile<4>(block, ss, q, m0, K, N, group, n0, acc); break;
          case 3: block_tile<3>(block, ss, q, m0, K, N, group, n0, acc); break;
          case 2: block_tile<2>(block, ss, q, m0, K, N, group, n0, acc); break;
          default: block_tile<1>(block, ss, q, m0, K, N, group, n0, acc); break;
        }
        store_rows(acc, rows, kBlock, nullptr, b, dst, m0, N, n0);
      }
    }
  });
#endif
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("supported", &supported, "whether this CPU has AVX512-VNNI and AVX512-VBMI");
  m.def("avx2_supported", &avx2_supported, "whether this CPU has AVX2 and FMA (the 32-row layout's kernel)");
  m.def("amx_supported", &amx_supported, "whether this CPU has AMX-INT8 and the OS lets this process use it");
  // The GIL is released: a prompt's matmul runs for tens of ms, and the window's thread needs it.
  m.def("linear", &linear, "x @ W^T + bias, W int4 in torch's CPU layout, x quantized to int8 per group",
        py::call_guard<py::gil_scoped_release>(), py::arg("x"), py::arg("packed"), py::arg("scale_shift"), py::arg("group"), py::arg("bias") = py::none(),
        py::arg("amx_from") = 8, py::arg("block_rows") = 64);
}

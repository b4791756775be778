// A few bf16 rows times a big matrix: the output head of a decoding step and every other bf16
// matrix a step reads (inference/bf16_gemv.py), and int8 weights (quanto's qint8, a scale per row).
//
// Why: every decoded token multiplies one hidden row by the tied 262144 x 3840 embedding (2 GB of
// bf16), the largest read of a step. torch hands a one-row bf16 matmul to a GEMM that reads it at
// ~16 GB/s on an AMD EPYC with AVX512-BF16 where a plain read gets ~29 (bench/README.md "head").
// Here each weight row is a contiguous run of K bf16 values: four rows at a time are streamed
// once through VDPBF16PS (two bf16 products summed into each float lane, AVX512-BF16), or, on
// AVX-512 CPUs without it and on AVX2 CPUs, widened to float by a shift and multiplied with FMA
// (torch's one-row bf16 matmul reads at ~17 GB/s on an AVX2 Zen 3 that reads ~27). The input rows
// stay in L1. Sums are float32, rounded to bf16 once at the end, as torch's bf16 matmul does.
//
// int8 weights, decoding and prompts: torch's kernel (_weight_int8pack_mm, which quanto calls)
// widens each weight to float, ~15 GB/s on the Zen 3 above; widening to float here too measured no
// faster. Instead each input row is quantized to int16 once (absmax / 32767: an error of 1.5e-5 of
// its largest value, where bf16 itself rounds each value by up to 2^-9 of it), and 16 weights at a
// time are widened to int16 and multiplied by it with VPMADDWD into int32 sums, exact, turned into
// float every kFlush features so they cannot overflow: ~21 GB/s there at one row; a prompt's rows
// go two at a time through each widened weight, 0.37-0.49x torch's time at 43 and 453 rows (AVX2).
// CPUs with AVX512-VNNI take 32 weights a step with VPDPWSSD (rows_int8_vnni).
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <vector>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 10)
#include <immintrin.h>
#define SEESAY_AVX512 1
#define SEESAY_F_TARGET __attribute__((target("avx512f,avx512bw")))
#define SEESAY_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define SEESAY_AVX2_TARGET __attribute__((target("avx2,fma")))
#define SEESAY_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#endif

namespace {

constexpr int kRows = 4;         // weight rows per pass: one load of x feeds four rows
constexpr int64_t kAhead = 1024; // bytes prefetched ahead in each weight row

inline float from_bf16(uint16_t bits) {
  uint32_t wide = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

// Plain C++: the tail of K not a multiple of the vector width (CPUs without AVX2 never get here:
// the Python side keeps torch's matmul for them).
inline float dot_tail(const uint16_t* w, const uint16_t* x, int64_t k0, int64_t K) {
  float s = 0.f;
  for (int64_t k = k0; k < K; ++k) s += from_bf16(w[k]) * from_bf16(x[k]);
  return s;
}

#ifdef SEESAY_AVX512
bool cpu_has_avx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"); }

bool cpu_has_bf16() {
#if defined(__clang__) || __GNUC__ >= 11
  return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

// Weight rows [n, n + R) against input row x: out[r] = sum_k w[r][k] x[k], 32 values a step.
template <int R>
SEESAY_BF16_TARGET void rows_bf16(const uint16_t* w, int64_t K, const uint16_t* x, float* out) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const int64_t whole = K / 32 * 32;
  for (int64_t k = 0; k < whole; k += 32) {
    const __m512bh xv = (__m512bh)_mm512_loadu_si512(x + k);
    for (int r = 0; r < R; ++r) {
      const uint16_t* row = w + r * K + k;
      _mm_prefetch(reinterpret_cast<const char*>(row) + kAhead, _MM_HINT_T0);
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_loadu_si512(row), xv);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]) + dot_tail(w + r * K, x, whole, K);
}

SEESAY_F_TARGET inline __m512 widen(const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(
      _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
}

// The same without AVX512-BF16: bf16 widened to float (a shift), then FMA; 16 values a step.
template <int R>
SEESAY_F_TARGET void rows_f32(const uint16_t* w, int64_t K, const uint16_t* x, float* out) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const int64_t whole = K / 16 * 16;
  for (int64_t k = 0; k < whole; k += 16) {
    const __m512 xv = widen(x + k);
    for (int r = 0; r < R; ++r) {
      const uint16_t* row = w + r * K + k;
      if ((k & 31) == 0) _mm_prefetch(reinterpret_cast<const char*>(row) + kAhead, _MM_HINT_T0);
      acc[r] = _mm512_fmadd_ps(widen(row), xv, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]) + dot_tail(w + r * K, x, whole, K);
}

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

SEESAY_AVX2_TARGET inline float hsum8(__m256 v) {
  const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 pair = _mm_add_ps(half, _mm_movehl_ps(half, half));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
}

SEESAY_AVX2_TARGET inline __m256 widen8(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(
      _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}

// The same on AVX2: 8 values a step.
template <int R>
SEESAY_AVX2_TARGET void rows_avx2(const uint16_t* w, int64_t K, const uint16_t* x, float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  const int64_t whole = K / 8 * 8;
  for (int64_t k = 0; k < whole; k += 8) {
    const __m256 xv = widen8(x + k);
    for (int r = 0; r < R; ++r) {
      const uint16_t* row = w + r * K + k;
      if ((k & 31) == 0) _mm_prefetch(reinterpret_cast<const char*>(row) + kAhead, _MM_HINT_T0);
      acc[r] = _mm256_fmadd_ps(widen8(row), xv, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum8(acc[r]) + dot_tail(w + r * K, x, whole, K);
}

constexpr int64_t kChunkBytes = 4 << 20;  // input rows multiplied together (a prompt's), in int16
constexpr int64_t kFlush = 2048;  // 256 products of |int8| <= 128 and |int16| <= 32767 a lane: < 2^31

// int8 weight rows [n, n + R) against P consecutive input rows x (P = 1, or 2 for prompts: each
// widened weight vector feeds both) quantized to int16: out[p * stride + r] = sum_k w[r][k] x[p][k],
// the integer sum as float (scales are the caller's), 16 features a step.
template <int R, int P>
SEESAY_AVX2_TARGET void rows_int8(const int8_t* w, int64_t K, const int16_t* x, float* out, int64_t stride) {
  __m256 total[P][R];
  for (int p = 0; p < P; ++p)
    for (int r = 0; r < R; ++r) total[p][r] = _mm256_setzero_ps();
  const int64_t whole = K / 16 * 16;
  for (int64_t k0 = 0; k0 < whole; k0 += kFlush) {
    const int64_t k1 = std::min(whole, k0 + kFlush);
    __m256i acc[P][R];
    for (int p = 0; p < P; ++p)
      for (int r = 0; r < R; ++r) acc[p][r] = _mm256_setzero_si256();
    for (int64_t k = k0; k < k1; k += 16) {
      __m256i xv[P];
      for (int p = 0; p < P; ++p) xv[p] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + p * K + k));
      for (int r = 0; r < R; ++r) {
        const __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + r * K + k)));
        for (int p = 0; p < P; ++p) acc[p][r] = _mm256_add_epi32(acc[p][r], _mm256_madd_epi16(wv, xv[p]));
      }
    }
    for (int p = 0; p < P; ++p)
      for (int r = 0; r < R; ++r) total[p][r] = _mm256_add_ps(total[p][r], _mm256_cvtepi32_ps(acc[p][r]));
  }
  for (int p = 0; p < P; ++p)
    for (int r = 0; r < R; ++r) {
      int32_t tail = 0;
      for (int64_t k = whole; k < K; ++k) tail += int32_t(w[r * K + k]) * x[p * K + k];
      out[p * stride + r] = hsum8(total[p][r]) + float(tail);
    }
}

// The same on AVX-512 with VNNI: 32 weights widened to int16 at a time, VPDPWSSD (VPMADDWD and the
// add in one instruction), 32 features a step; kFlush bounds each lane to 128 products here. On a
// 2-core Sapphire Rapids, for a stream of the 12B's layer shapes at one row: 23.0 GB/s on the AVX2
// path, 25.6 here, 27.3 with each row prefetched 1 KB ahead (2 KB: 26.6), where max() reads 27-32;
// at 5 rows 12.5 against 16.8 (torch's 8.0).
template <int R, int P>
SEESAY_VNNI_TARGET void rows_int8_vnni(const int8_t* w, int64_t K, const int16_t* x, float* out, int64_t stride) {
  __m512 total[P][R];
  for (int p = 0; p < P; ++p)
    for (int r = 0; r < R; ++r) total[p][r] = _mm512_setzero_ps();
  const int64_t whole = K / 32 * 32;
  for (int64_t k0 = 0; k0 < whole; k0 += kFlush) {
    const int64_t k1 = std::min(whole, k0 + kFlush);
    __m512i acc[P][R];
    for (int p = 0; p < P; ++p)
      for (int r = 0; r < R; ++r) acc[p][r] = _mm512_setzero_si512();
    for (int64_t k = k0; k < k1; k += 32) {
      __m512i xv[P];
      for (int p = 0; p < P; ++p) xv[p] = _mm512_loadu_si512(x + p * K + k);
      for (int r = 0; r < R; ++r) {
        if ((k & 63) == 0) _mm_prefetch(reinterpret_cast<const char*>(w + r * K + k) + kAhead, _MM_HINT_T0);
        const __m512i wv = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * K + k)));
        for (int p = 0; p < P; ++p) acc[p][r] = _mm512_dpwssd_epi32(acc[p][r], wv, xv[p]);
      }
    }
    for (int p = 0; p < P; ++p)
      for (int r = 0; r < R; ++r) total[p][r] = _mm512_add_ps(total[p][r], _mm512_cvtepi32_ps(acc[p][r]));
  }
  for (int p = 0; p < P; ++p)
    for (int r = 0; r < R; ++r) {
      int32_t tail = 0;
      for (int64_t k = whole; k < K; ++k) tail += int32_t(w[r * K + k]) * x[p * K + k];
      out[p * stride + r] = _mm512_reduce_add_ps(total[p][r]) + float(tail);
    }
}

bool cpu_has_avx512_vnni() { return cpu_has_avx512() && __builtin_cpu_supports("avx512vnni"); }

template <int R, int P>
void int8_rows(bool vnni, const int8_t* w, int64_t K, const int16_t* x, float* out, int64_t stride) {
  if (vnni) rows_int8_vnni<R, P>(w, K, x, out, stride);
  else rows_int8<R, P>(w, K, x, out, stride);
}

// Row x quantized to int16 (absmax / 32767) into q; returns the scale, NaN where x holds a NaN or
// an inf. _mm256_cvtps_epi32 rounds to nearest even, as std::nearbyint does.
SEESAY_AVX2_TARGET float quantize_row(const uint16_t* x, int64_t K, int16_t* q) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  __m256 amax = _mm256_setzero_ps(), any_nan = _mm256_setzero_ps();
  const int64_t whole = K / 8 * 8;
  for (int64_t k = 0; k < whole; k += 8) {
    const __m256 v = _mm256_andnot_ps(sign, widen8(x + k));
    any_nan = _mm256_or_ps(any_nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    amax = _mm256_max_ps(amax, v);
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, amax);
  float top = 0.f;
  bool finite = _mm256_movemask_ps(any_nan) == 0;
  for (float v : lanes) top = std::max(top, v);
  for (int64_t k = whole; k < K; ++k) {
    const float v = std::fabs(from_bf16(x[k]));
    finite = finite && !std::isnan(v);
    top = std::max(top, v);
  }
  if (!finite || std::isinf(top)) return std::nanf("");
  const float inv = top > 0.f ? 32767.f / top : 0.f;
  const __m256 scale = _mm256_set1_ps(inv);
  for (int64_t k = 0; k < whole; k += 8) {
    const __m256i i32 = _mm256_cvtps_epi32(_mm256_mul_ps(widen8(x + k), scale));
    const __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), i16);
  }
  for (int64_t k = whole; k < K; ++k) q[k] = int16_t(std::nearbyint(from_bf16(x[k]) * inv));
  return top / 32767.f;
}

enum class Isa { avx2, avx512, avx512bf16 };

template <int R>
void rows(Isa isa, const uint16_t* w, int64_t K, const uint16_t* x, float* out) {
  if (isa == Isa::avx512bf16) rows_bf16<R>(w, K, x, out);
  else if (isa == Isa::avx512) rows_f32<R>(w, K, x, out);
  else rows_avx2<R>(w, K, x, out);
}
#else
bool cpu_has_avx512() { return false; }
bool cpu_has_bf16() { return false; }
bool cpu_has_avx2() { return false; }
bool cpu_has_avx512_vnni() { return false; }
#endif

}  // namespace

bool supported() { return cpu_has_avx512() || cpu_has_avx2(); }
bool avx512_supported() { return cpu_has_avx512(); }
bool bf16_supported() { return cpu_has_bf16(); }

// x @ W^T for bf16 x [M, K] (a few rows) and W [N, K]; bf16 [M, N]. use_bf16 false forces the
// AVX-512 FMA path, use_avx512 false the AVX2 one (the tests check each the CPU can run).
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, bool use_bf16, bool use_avx512) {
  TORCH_CHECK(supported(), "this CPU has neither AVX-512 nor AVX2");
  TORCH_CHECK(x.scalar_type() == torch::kBFloat16 && x.dim() == 2 && x.is_contiguous(), "x: bf16 [M, K]");
  TORCH_CHECK(weight.scalar_type() == torch::kBFloat16 && weight.dim() == 2 && weight.is_contiguous() &&
                  weight.size(1) == x.size(1), "weight: bf16 [N, K], contiguous");
  const int64_t M = x.size(0), K = x.size(1), N = weight.size(0);
  auto out = torch::empty({M, N}, x.options());
  if (M == 0 || N == 0) return out;
#ifdef SEESAY_AVX512
  const Isa isa = !(use_avx512 && cpu_has_avx512()) ? Isa::avx2
                  : use_bf16 && cpu_has_bf16()     ? Isa::avx512bf16
                                                   : Isa::avx512;
  const uint16_t* w = reinterpret_cast<const uint16_t*>(weight.data_ptr<at::BFloat16>());
  const uint16_t* xs = reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>());
  uint16_t* dst = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  at::parallel_for(0, (N + kRows - 1) / kRows, 64, [&](int64_t b0, int64_t b1) {
    float sums[kRows];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n0 = b * kRows, count = std::min<int64_t>(kRows, N - n0);
      for (int64_t m = 0; m < M; ++m) {  // later rows find this weight block in L1 / L2
        if (count == kRows) rows<kRows>(isa, w + n0 * K, K, xs + m * K, sums);
        else
          for (int64_t r = 0; r < count; ++r) rows<1>(isa, w + (n0 + r) * K, K, xs + m * K, sums + r);
        for (int64_t r = 0; r < count; ++r) dst[m * N + n0 + r] = c10::BFloat16(sums[r]).x;
      }
    }
  });
#endif
  return out;
}

// (x @ W^T) * scale + bias for bf16 x [M, K], int8 W [N, K] and bf16 scale [N] (or
// [N, 1], quanto's) and bias [N] or None; bf16 [M, N], rounded once. use_avx512 false forces the
// AVX2 path on a CPU with AVX512-VNNI (the tests check both).
torch::Tensor linear_int8(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& scale,
                          const c10::optional<torch::Tensor>& bias, bool use_avx512) {
  TORCH_CHECK(cpu_has_avx2(), "this CPU has no AVX2");
  TORCH_CHECK(x.scalar_type() == torch::kBFloat16 && x.dim() == 2 && x.is_contiguous(), "x: bf16 [M, K]");
  TORCH_CHECK(weight.scalar_type() == torch::kInt8 && weight.dim() == 2 && weight.is_contiguous() &&
                  weight.size(1) == x.size(1), "weight: int8 [N, K], contiguous");
  const int64_t M = x.size(0), K = x.size(1), N = weight.size(0);
  TORCH_CHECK(scale.scalar_type() == torch::kBFloat16 && scale.is_contiguous() && scale.numel() == N,
              "scale: bf16, one per weight row");
  const bool has_bias = bias.has_value() && bias->defined();
  TORCH_CHECK(!has_bias || (bias->scalar_type() == torch::kBFloat16 && bias->is_contiguous() && bias->numel() == N),
              "bias: bf16, one per weight row");
  auto out = torch::empty({M, N}, x.options());
  if (M == 0 || N == 0) return out;
#ifdef SEESAY_AVX512
  const bool vnni = use_avx512 && cpu_has_avx512_vnni();
  const int8_t* w = weight.data_ptr<int8_t>();
  const uint16_t* xs = reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>());
  const uint16_t* ws = reinterpret_cast<const uint16_t*>(scale.data_ptr<at::BFloat16>());
  const uint16_t* bs = has_bias ? reinterpret_cast<const uint16_t*>(bias->data_ptr<at::BFloat16>()) : nullptr;
  uint16_t* dst = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  std::vector<int16_t> xq(M * K);
  std::vector<float> xscale(M);
  at::parallel_for(0, M, 16, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) xscale[m] = quantize_row(xs + m * K, K, xq.data() + m * K);
  });
  // A prompt's rows in chunks of ~kChunkBytes of int16: each weight block reads the whole chunk, so
  // it must stay in cache; each chunk reads the weight once more (15360 -> 3840 at 1038 rows: 0.77 s
  // in 4 MB chunks, 0.89 in 256 KB ones, 1.28 unchunked).
  const int64_t chunk = std::max<int64_t>(2, kChunkBytes / (2 * K) / 2 * 2);
  for (int64_t c0 = 0; c0 < M; c0 += chunk) {
    const int64_t c1 = std::min(M, c0 + chunk);
    at::parallel_for(0, (N + kRows - 1) / kRows, 64, [&](int64_t b0, int64_t b1) {
      float sums[2][kRows];
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t n0 = b * kRows, count = std::min<int64_t>(kRows, N - n0);
        for (int64_t m = c0; m < c1; m += 2) {  // later rows find this weight block in L1
          const int64_t pair = std::min<int64_t>(2, c1 - m);
          const int16_t* x0 = xq.data() + m * K;
          if (pair == 2 && count == kRows) int8_rows<kRows, 2>(vnni, w + n0 * K, K, x0, sums[0], kRows);
          else if (pair == 2)
            for (int64_t r = 0; r < count; ++r) int8_rows<1, 2>(vnni, w + (n0 + r) * K, K, x0, sums[0] + r, kRows);
          else if (count == kRows) int8_rows<kRows, 1>(vnni, w + n0 * K, K, x0, sums[0], kRows);
          else
            for (int64_t r = 0; r < count; ++r) int8_rows<1, 1>(vnni, w + (n0 + r) * K, K, x0, sums[0] + r, kRows);
          for (int64_t i = 0; i < pair; ++i)
            for (int64_t r = 0; r < count; ++r) {
              const float v = sums[i][r] * xscale[m + i] * from_bf16(ws[n0 + r]) + (bs ? from_bf16(bs[n0 + r]) : 0.f);
              dst[(m + i) * N + n0 + r] = c10::BFloat16(v).x;
            }
        }
      }
    });
  }
#endif
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("supported", &supported, "whether this CPU has AVX-512 (F and BW) or AVX2 and FMA");
  m.def("avx512_supported", &avx512_supported, "whether this CPU has AVX-512 (F and BW)");
  m.def("bf16_supported", &bf16_supported, "whether this CPU has AVX512-BF16 (VDPBF16PS)");
  // The GIL is released: the head runs for tens of ms every token.
  m.def("linear", &linear, "x @ W^T for a few bf16 rows x and a bf16 matrix W",
        py::call_guard<py::gil_scoped_release>(), py::arg("x"), py::arg("weight"), py::arg("use_bf16") = true,
        py::arg("use_avx512") = true);
  m.def("int8_supported", &cpu_has_avx2, "whether this CPU has AVX2 (the int8 kernel)");
  m.def("int8_avx512_supported", &cpu_has_avx512_vnni, "whether this CPU has AVX512-VNNI (the int8 kernel's wide path)");
  m.def("linear_int8", &linear_int8, "(x @ W^T) * scale + bias for bf16 rows x and an int8 matrix W",
        py::call_guard<py::gil_scoped_release>(), py::arg("x"), py::arg("weight"), py::arg("scale"),
        py::arg("bias") = py::none(), py::arg("use_avx512") = true);
}

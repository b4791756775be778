// Short inputs (decoding, a follow-up question, a second of audio) through int4 weights held in
// torch's CPU int4 layout, as int8 dot products (AVX512-VNNI), reading the packed weights once.
//
// Why: torch's int4 CPU kernel converts every weight to float and multiplies it in float: about
// three times the instructions per weight byte that memory can deliver, so decoding runs at
// 15-19 GB/s of a 26 GB/s machine, and 25 rows cost 25 times one row (bench/README.md). Here the
// input is quantized to int8 per weight group (absmax / 127, as llama.cpp's Q8 inputs), and each
// 128 bytes of packed weights (4 input features x 64 rows) become 4 VPDPBUSD per input row: two
// byte permutes put the 4 features of one row into one 32-bit lane, a mask and a shift split the
// nibbles. Per group: out += s * sx * sum(q * xq) + (shift - 8 s) * sx * sum(xq), which is the
// dot product of the dequantized weight with the quantized input, exactly, in int32 then float.
//
// Layout (the one inference/int4_unpack.py checks against torch): rows in blocks of 64; block b is
// K runs of 32 bytes, one per input feature k; in a run, the low nibble of byte j is row j of the
// block and the high nibble row j + 32. Scales and shifts: bf16 [K / group, N, 2];
// weight = (q - 8) * scale + shift.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 10)
#include <immintrin.h>
#define SEESAY_VNNI 1
#define SEESAY_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi")))
#endif

namespace {

constexpr int64_t kBlock = 64;  // rows per block of torch's layout on AVX-512 machines
constexpr int kTile = 4;        // input rows multiplied per pass over a block's weights
constexpr int kAhead = 2048;    // bytes prefetched ahead in a block: 16 -> 20 GB/s at one row (2 cores)

inline float from_bf16(uint16_t bits) {
  uint32_t wide = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

// x (bf16 [M, K]) as int8 per group of `group` features: xq, the group's scale sx, and
// sx * sum(xq) (what the weight's shift multiplies).
struct Quantized {
  std::vector<int8_t> xq;
  std::vector<float> sx, sx_sum;
};

Quantized quantize_rows(const uint16_t* x, int64_t M, int64_t K, int64_t group) {
  const int64_t G = K / group;
  Quantized q{std::vector<int8_t>(M * K), std::vector<float>(M * G), std::vector<float>(M * G)};
  std::vector<float> values(group);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t g = 0; g < G; ++g) {
      const uint16_t* src = x + m * K + g * group;
      float absmax = 0.f;
      for (int64_t i = 0; i < group; ++i) {
        values[i] = from_bf16(src[i]);
        absmax = std::fmax(absmax, std::fabs(values[i]));
      }
      const float scale = absmax / 127.f, inverse = absmax > 0.f ? 127.f / absmax : 0.f;
      int32_t sum = 0;
      int8_t* dst = q.xq.data() + m * K + g * group;
      for (int64_t i = 0; i < group; ++i) {
        const int32_t v = int32_t(std::nearbyint(values[i] * inverse));
        dst[i] = int8_t(v);
        sum += v;
      }
      q.sx[m * G + g] = scale;
      q.sx_sum[m * G + g] = scale * float(sum);
    }
  }
  return q;
}

#ifdef SEESAY_VNNI
// Output rows [64 b, 64 b + 64) for input rows [m0, m0 + T) into acc (float [T][64]).
template <int T>
SEESAY_TARGET void block_tile(const uint8_t* block, const uint16_t* scale_shift, const Quantized& q,
                              int64_t m0, int64_t K, int64_t N, int64_t group, int64_t n0, float* acc) {
  // Bytes [j k0, j k1, j k2, j k3] for j = 0..15 (idx0) and 16..31 (idx1) of 4 runs of 32 bytes.
  alignas(64) uint8_t order0[64], order1[64];
  for (int j = 0; j < 16; ++j)
    for (int k = 0; k < 4; ++k) {
      order0[4 * j + k] = uint8_t(32 * k + j);
      order1[4 * j + k] = uint8_t(32 * k + j + 16);
    }
  const __m512i idx0 = _mm512_load_si512(order0), idx1 = _mm512_load_si512(order1);
  const __m512i nibble = _mm512_set1_epi8(15);
  const __m512i high_half = _mm512_set1_epi32(int32_t(0xFFFF0000u));
  const int64_t G = K / group;
  __m512 out[T][4];
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 4; ++i) out[t][i] = _mm512_setzero_ps();
  for (int64_t g = 0; g < G; ++g) {
    __m512i dot[T][4];
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < 4; ++i) dot[t][i] = _mm512_setzero_si512();
    for (int64_t k = g * group; k < (g + 1) * group; k += 4) {
      const uint8_t* w = block + k * 32;
      _mm_prefetch(reinterpret_cast<const char*>(w + kAhead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(w + kAhead + 64), _MM_HINT_T0);
      const __m512i v0 = _mm512_loadu_si512(w), v1 = _mm512_loadu_si512(w + 64);
      const __m512i p0 = _mm512_permutex2var_epi8(v0, idx0, v1), p1 = _mm512_permutex2var_epi8(v0, idx1, v1);
      // lanes: rows 0-15, 16-31, 32-47, 48-63, each with features k..k+3
      const __m512i w0 = _mm512_and_si512(p0, nibble), w1 = _mm512_and_si512(p1, nibble);
      const __m512i w2 = _mm512_and_si512(_mm512_srli_epi16(p0, 4), nibble);
      const __m512i w3 = _mm512_and_si512(_mm512_srli_epi16(p1, 4), nibble);
      for (int t = 0; t < T; ++t) {
        int32_t four;
        std::memcpy(&four, q.xq.data() + (m0 + t) * K + k, sizeof four);
        const __m512i xb = _mm512_set1_epi32(four);
        dot[t][0] = _mm512_dpbusd_epi32(dot[t][0], w0, xb);
        dot[t][1] = _mm512_dpbusd_epi32(dot[t][1], w1, xb);
        dot[t][2] = _mm512_dpbusd_epi32(dot[t][2], w2, xb);
        dot[t][3] = _mm512_dpbusd_epi32(dot[t][3], w3, xb);
      }
    }
    const uint16_t* ss = scale_shift + (g * N + n0) * 2;
    for (int i = 0; i < 4; ++i) {  // 16 (scale, shift) pairs of bf16 per load: rows 16 i .. 16 i + 15
      const __m512i pairs = _mm512_loadu_si512(ss + 32 * i);
      const __m512 s = _mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));
      const __m512 z = _mm512_castsi512_ps(_mm512_and_si512(pairs, high_half));
      const __m512 zs = _mm512_fnmadd_ps(_mm512_set1_ps(8.f), s, z);
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
#else
bool cpu_has_vnni() { return false; }
#endif

}  // namespace

bool supported() { return cpu_has_vnni(); }

// x @ W^T (+ bias) for bf16 x [M, K] and W packed in torch's CPU int4 layout (64-row blocks).
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& packed, const torch::Tensor& scale_shift,
                     int64_t group, const c10::optional<torch::Tensor>& bias) {
  TORCH_CHECK(cpu_has_vnni(), "this CPU has no AVX512-VNNI");
  TORCH_CHECK(x.scalar_type() == torch::kBFloat16 && x.dim() == 2 && x.is_contiguous(), "x: bf16 [M, K]");
  TORCH_CHECK(packed.scalar_type() == torch::kUInt8 && packed.dim() == 2 && packed.is_contiguous(), "packed");
  const int64_t M = x.size(0), K = x.size(1), N = packed.size(0);
  TORCH_CHECK(packed.size(1) * 2 == K && N % kBlock == 0, "unsupported shape");
  TORCH_CHECK(group > 0 && group % 4 == 0 && K % group == 0, "unsupported group size");
  TORCH_CHECK(scale_shift.scalar_type() == torch::kBFloat16 && scale_shift.is_contiguous() &&
                  scale_shift.numel() == K / group * N * 2, "scale_shift: bf16 [K / group, N, 2]");
  TORCH_CHECK(!bias || (bias->scalar_type() == torch::kBFloat16 && bias->numel() == N && bias->is_contiguous()),
              "bias: bf16 [N]");
  auto out = torch::empty({M, N}, x.options());
  if (M == 0) return out;
#ifdef SEESAY_VNNI
  const Quantized q = quantize_rows(reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>()), M, K, group);
  const uint8_t* weights = packed.data_ptr<uint8_t>();
  const uint16_t* ss = reinterpret_cast<const uint16_t*>(scale_shift.data_ptr<at::BFloat16>());
  const uint16_t* b = bias ? reinterpret_cast<const uint16_t*>(bias->data_ptr<at::BFloat16>()) : nullptr;
  uint16_t* dst = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
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
        for (int64_t t = 0; t < rows; ++t) {
          uint16_t* row = dst + (m0 + t) * N + n0;
          for (int64_t j = 0; j < kBlock; ++j) {
            const float v = acc[t * kBlock + j] + (b ? from_bf16(b[n0 + j]) : 0.f);
            row[j] = c10::BFloat16(v).x;  // round to nearest even
          }
        }
      }
    }
  });
#endif
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("supported", &supported, "whether this CPU has AVX512-VNNI and AVX512-VBMI");
  m.def("linear", &linear, "x @ W^T + bias, W int4 in torch's CPU layout, x quantized to int8 per group",
        py::arg("x"), py::arg("packed"), py::arg("scale_shift"), py::arg("group"), py::arg("bias") = py::none());
}

// Unpack torch's CPU int4 matmul layout (what torch._convert_weight_to_int4pack_for_cpu makes and
// torch._weight_int4pack_mm_for_cpu reads) into dense bf16, a slice of output features at a time.
//
// Why: torch's int4 CPU kernel unpacks the weights again for every few input rows, so a prefill of
// hundreds of tokens costs ~10x a bf16 matmul. Unpacking a slice once (at memory speed) and handing
// it to the bf16 GEMM costs a fraction of that (inference/int4_unpack.py, bench/README.md).
//
// Layout (checked against torch at load by inference/int4_unpack.py): rows in blocks of B; block b
// is K consecutive runs of B/2 bytes, one per input feature k; in a run, the low nibble of byte j is
// row j of the block and the high nibble row j + B/2. Scales and shifts: bf16 [K / group, N, 2];
// weight = (q - 8) * scale + shift.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <cstdint>
#include <cstring>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define SEESAY_AVX512 1
#if defined(__clang__) || __GNUC__ >= 10  // AVX512-BF16 intrinsics and cpu check: GCC 10, clang 9
#define SEESAY_AVX512BF16 1
#endif
#endif

namespace {

inline uint16_t to_bf16(float f) {  // round to nearest even; weights are finite
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// One input feature k across `blocks` blocks: writes blocks * B values of a row of W^T.
void unpack_row(const uint8_t* src, int64_t block_stride, const float* scale, const float* shift,
                uint16_t* out, int64_t blocks, int64_t half) {
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* bytes = src + b * block_stride;
    const float* s = scale + b * 2 * half;
    const float* z = shift + b * 2 * half;
    uint16_t* o = out + b * 2 * half;
    for (int64_t j = 0; j < half; ++j) o[j] = to_bf16(float(bytes[j] & 15) * s[j] + z[j]);
    for (int64_t j = 0; j < half; ++j) o[j + half] = to_bf16(float(bytes[j] >> 4) * s[j + half] + z[j + half]);
  }
}

#ifdef SEESAY_AVX512
__attribute__((target("avx512f,avx512bw"))) inline void store16(uint16_t* out, __m512i q, const float* s,
                                                                const float* z) {
  __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), _mm512_loadu_ps(s), _mm512_loadu_ps(z));
  __m512i bits = _mm512_castps_si512(f);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  bits = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi32_epi16(bits));
}

// The same for B = 64 (torch's layout on AVX-512 machines), 16 values per instruction.
__attribute__((target("avx512f,avx512bw"))) void unpack_row_avx512(const uint8_t* src, int64_t block_stride,
                                                                   const float* scale, const float* shift,
                                                                   uint16_t* out, int64_t blocks) {
  const __m512i mask = _mm512_set1_epi32(15);
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* bytes = src + b * block_stride;
    for (int h = 0; h < 2; ++h) {
      __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 16 * h)));
      int64_t lo = b * 64 + 16 * h, hi = lo + 32;
      store16(out + lo, _mm512_and_si512(q, mask), scale + lo, shift + lo);
      store16(out + hi, _mm512_srli_epi32(q, 4), scale + hi, shift + hi);
    }
  }
}

#ifdef SEESAY_AVX512BF16
// With AVX512-BF16 (Sapphire Rapids, Zen 4 and later) one instruction rounds 32 floats to bf16.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void unpack_row_avx512bf16(
    const uint8_t* src, int64_t block_stride, const float* scale, const float* shift, uint16_t* out,
    int64_t blocks) {
  const __m512i mask = _mm512_set1_epi32(15);
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* bytes = src + b * block_stride;
    const int64_t base = b * 64;
    __m512i q0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
    __m512i q1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 16)));
    // rows 0-15 and 16-31: low nibbles; rows 32-47 and 48-63: high nibbles
    __m512 r0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(q0, mask)), _mm512_loadu_ps(scale + base),
                                _mm512_loadu_ps(shift + base));
    __m512 r1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(q1, mask)), _mm512_loadu_ps(scale + base + 16),
                                _mm512_loadu_ps(shift + base + 16));
    __m512 r2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(q0, 4)), _mm512_loadu_ps(scale + base + 32),
                                _mm512_loadu_ps(shift + base + 32));
    __m512 r3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(q1, 4)), _mm512_loadu_ps(scale + base + 48),
                                _mm512_loadu_ps(shift + base + 48));
    _mm512_storeu_si512(out + base, (__m512i)_mm512_cvtne2ps_pbh(r1, r0));
    _mm512_storeu_si512(out + base + 32, (__m512i)_mm512_cvtne2ps_pbh(r3, r2));
  }
}
#endif  // SEESAY_AVX512BF16
#endif

}  // namespace

// scale and (shift - 8 * scale) as float32 [K / group, N]: computed once per matmul.
std::vector<torch::Tensor> scales(const torch::Tensor& scale_shift) {
  auto f = scale_shift.to(torch::kFloat32);
  auto scale = f.select(2, 0).contiguous();
  return {scale, (f.select(2, 1) - 8.0f * scale).contiguous()};
}

// Rows [b0 * B, b1 * B) of W, transposed, into out: bf16 [K, (b1 - b0) * B], contiguous.
// isa: the most the CPU may use: 2 = AVX512-BF16, 1 = AVX-512, 0 = the plain loop (tests try each).
void unpack_slice(const torch::Tensor& packed, const torch::Tensor& scale, const torch::Tensor& shift,
                  int64_t group, int64_t B, int64_t b0, int64_t b1, torch::Tensor& out, int64_t isa) {
  TORCH_CHECK(packed.scalar_type() == torch::kUInt8 && packed.is_contiguous() && packed.dim() == 2);
  const int64_t N = packed.size(0), K = packed.size(1) * 2, half = B / 2, width = (b1 - b0) * B;
  TORCH_CHECK(B > 0 && B % 2 == 0 && N % B == 0 && group > 0 && K % group == 0, "unsupported shape");
  TORCH_CHECK(0 <= b0 && b0 < b1 && b1 * B <= N, "bad slice");
  TORCH_CHECK(scale.scalar_type() == torch::kFloat32 && scale.is_contiguous() && scale.numel() == K / group * N);
  TORCH_CHECK(shift.scalar_type() == torch::kFloat32 && shift.is_contiguous() && shift.numel() == K / group * N);
  TORCH_CHECK(out.scalar_type() == torch::kBFloat16 && out.is_contiguous() && out.numel() == K * width);
  const uint8_t* src = packed.data_ptr<uint8_t>();
  const float* sc = scale.data_ptr<float>();
  const float* sh = shift.data_ptr<float>();
  uint16_t* dst = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
#ifdef SEESAY_AVX512
  const bool avx512 = isa >= 1 && B == 64 && __builtin_cpu_supports("avx512bw");
#ifdef SEESAY_AVX512BF16
  const bool avx512bf16 = avx512 && isa >= 2 && __builtin_cpu_supports("avx512bf16");
#else
  const bool avx512bf16 = false;
#endif
#endif
  at::parallel_for(0, K, 64, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const uint8_t* row = src + (b0 * K + k) * half;
      const float* s = sc + (k / group) * N + b0 * B;
      const float* z = sh + (k / group) * N + b0 * B;
#ifdef SEESAY_AVX512
#ifdef SEESAY_AVX512BF16
      if (avx512bf16) {
        unpack_row_avx512bf16(row, K * half, s, z, dst + k * width, b1 - b0);
        continue;
      }
#endif
      if (avx512) {
        unpack_row_avx512(row, K * half, s, z, dst + k * width, b1 - b0);
        continue;
      }
#endif
      unpack_row(row, K * half, s, z, dst + k * width, b1 - b0, half);
    }
  });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scales", &scales, "float32 scale and shift - 8 * scale from bf16 [K/group, N, 2]");
  m.def("unpack_slice", &unpack_slice, "rows [b0*B, b1*B) of an int4-packed weight, as bf16 W^T",
        py::call_guard<py::gil_scoped_release>(),  // tensors only: the GUI thread may run meanwhile
        py::arg("packed"), py::arg("scale"), py::arg("shift"), py::arg("group"), py::arg("B"), py::arg("b0"),
        py::arg("b1"), py::arg("out"), py::arg("isa") = 2);
}

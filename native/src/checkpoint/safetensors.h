// A safetensors file read through mmap, validated as strictly as checkpoint/safetensors.ts (checkpoint/README.md,
// "The safetensors format as read and written here"); tensors are converted to fp32 on request.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace od {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "I32", ... as in the file
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

class SafetensorsFile {
 public:
  // Maps and validates the file; every refusal names the file and, where there is one, the tensor.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }
  const SafetensorsEntry* find(const std::string& name) const;
  // The tensor's raw bytes in the mapping.
  const uint8_t* data(const SafetensorsEntry& e) const;
  // Converts F32, F16 or BF16 (exactly: every such value is an fp32 value) into out[0..count); I32 is converted
  // to float too (masks). Other dtypes fail naming the tensor.
  void read_f32(const SafetensorsEntry& e, float* out) const;
  void read_i32(const SafetensorsEntry& e, int32_t* out) const;  // I32 only

 private:
  std::string path_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> tensors_;
};

// fp16 / bf16 bits to fp32 (exact).
float f16_to_f32(uint16_t bits);
float bf16_to_f32(uint16_t bits);
// fp32 to bf16 / fp16 bits, round to nearest even (NaN kept quiet; overflow to infinity), as checkpoint/dtype.ts.
uint16_t f32_to_bf16(float x);
uint16_t f32_to_f16(float x);

}  // namespace od

#include "khronika/schemas/sealing.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <memory>

#include "aes_gcm.h"
#include "khronika/schemas/crypto.h"

namespace khronika {
namespace {

// HKDF-Expand-SHA-256(parent, label || 0x00 || suffix) into a 32-byte key.
SymmetricKey Derive(const SymmetricKey& parent, std::string_view label, ByteView suffix) {
  // Built on the stack when it fits (the labels are short, and a suffix is a nonce, an index or
  // a valid case id of at most 128 bytes), so that deriving a key allocates nothing.
  std::array<uint8_t, 256> stack_info;
  Bytes heap_info;
  const size_t n = label.size() + 1 + suffix.size();
  uint8_t* info = stack_info.data();
  if (n > stack_info.size()) {
    heap_info.resize(n);
    info = heap_info.data();
  }
  std::copy(label.begin(), label.end(), info);
  info[label.size()] = 0x00;
  std::copy(suffix.begin(), suffix.end(), info + label.size() + 1);
  SymmetricKey out;
  HkdfExpand(HkdfHash::kSha256, parent, ByteView(info, n), out);
  return out;
}

}  // namespace

SymmetricKey DeriveCaseKey(const SymmetricKey& archive_key, std::string_view case_id) {
  return Derive(archive_key, "khronika/2 case key", AsBytes(case_id));
}
SymmetricKey DeriveIndexKey(const SymmetricKey& archive_key, const EntryNonce& nonce) {
  return Derive(archive_key, "khronika/2 index key", nonce);
}
SymmetricKey DeriveEntryKey(const SymmetricKey& case_key, const EntryNonce& nonce) {
  return Derive(case_key, "khronika/2 entry key", nonce);
}
SymmetricKey DeriveLinkKey(const SymmetricKey& case_key, const EntryNonce& nonce) {
  return Derive(case_key, "khronika/2 link key", nonce);
}
SymmetricKey DeriveFileKey(const SymmetricKey& case_key, const EntryNonce& nonce,
                           uint32_t file_index) {
  std::array<uint8_t, sizeof(EntryNonce) + 4> suffix;
  std::copy(nonce.begin(), nonce.end(), suffix.begin());
  for (int i = 0; i < 4; ++i) suffix[nonce.size() + i] = uint8_t(file_index >> (24 - 8 * i));
  return Derive(case_key, "khronika/2 file key", suffix);
}
SymmetricKey DeriveDescriptorKey(const SymmetricKey& file_key) {
  return Derive(file_key, "khronika/2 descriptor key", {});
}

uint64_t Padme(uint64_t length) {
  if (length < 2) return length;
  const int e = std::bit_width(length) - 1;        // floor(log2 L)
  const int s = std::bit_width(uint64_t(e));           // floor(log2 E) + 1
  const int last_bits = e - s;
  const uint64_t mask = (uint64_t{1} << last_bits) - 1;
  return (length + mask) & ~mask;
}

uint64_t PaddedFileSize(uint64_t size) { return std::max(kMinPaddedFileSize, Padme(size)); }

Result<Bytes> PadValue(ByteView value, size_t padded_size) {
  if (padded_size < 4 || value.size() > padded_size - 4) {
    return Status::InvalidArgument("the value is too long for its sealed box");
  }
  Bytes out(padded_size, 0);
  for (int i = 0; i < 4; ++i) out[i] = uint8_t(value.size() >> (24 - 8 * i));
  std::copy(value.begin(), value.end(), out.begin() + 4);
  return out;
}

Result<Bytes> UnpadValue(ByteView padded) {
  if (padded.size() < 4) return Status::Corruption("a sealed box is shorter than its length");
  uint64_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | padded[i];
  if (n > padded.size() - 4) return Status::Corruption("a sealed box's length is too large");
  uint8_t nonzero = 0;
  for (size_t i = 4 + n; i < padded.size(); ++i) nonzero |= padded[i];
  if (nonzero != 0) return Status::Corruption("a sealed box's padding is not zero");
  return Bytes(padded.begin() + 4, padded.begin() + 4 + n);
}

size_t PaddedBoxSize(size_t value_length) {
  return std::max<size_t>(256, Padme(uint64_t{4} + value_length));
}

namespace {
constexpr uint8_t kZeroNonce[kAeadNonceBytes] = {};
}  // namespace

Bytes BoxSeal(const SymmetricKey& key, std::string_view label, ByteView padded_plaintext) {
  Bytes out(padded_plaintext.size() + kAeadTagBytes);
  aes_gcm::Seal(aes_gcm::ThreadSealContext(key.data()), kZeroNonce, AsBytes(label),
                padded_plaintext, out.data());
  return out;
}

Result<Bytes> BoxOpen(const SymmetricKey& key, std::string_view label, ByteView box) {
  if (box.size() < kAeadTagBytes) return Status::Corruption("a sealed box is shorter than its tag");
  Bytes out(box.size() - kAeadTagBytes);
  if (!aes_gcm::Open(aes_gcm::ThreadOpenContext(key.data()), kZeroNonce, AsBytes(label), box,
                     out.data())) {
    return Status::Corruption(std::string(label) +
                              " does not open: it was altered, or the key is not its key");
  }
  return out;
}

Hash FileCommitment(const CommitmentSalt& salt, ByteView descriptor_bytes) {
  Sha256Stream h;
  static constexpr std::string_view kLabel{"khronika/2 file commitment\0", 27};
  h.Update(AsBytes(kLabel));
  h.Update(salt);
  h.Update(descriptor_bytes);
  return h.Finish();
}

}  // namespace khronika

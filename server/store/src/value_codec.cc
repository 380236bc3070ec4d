#include "value_codec.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>

namespace khronika::store_internal {
namespace {

constexpr std::string_view kIndexKeyLabel = "khronika index key v1";

// The associated data of a value: table number (u8) || database key. On the stack for any key
// LMDB takes (at most 511 bytes); a longer one, which LMDB refuses anyway, on the heap.
class AssociatedData {
 public:
  AssociatedData(Table table, ByteView key) {
    uint8_t* out = bytes_.data();
    if (1 + key.size() > bytes_.size()) {
      long_.resize(1 + key.size());
      out = long_.data();
    }
    out[0] = static_cast<uint8_t>(table);
    std::copy(key.begin(), key.end(), out + 1);
    view_ = ByteView(out, 1 + key.size());
  }
  AssociatedData(const AssociatedData&) = delete;
  AssociatedData& operator=(const AssociatedData&) = delete;
  operator ByteView() const { return view_; }

 private:
  std::array<uint8_t, 1 + 511> bytes_;
  Bytes long_;
  ByteView view_;
};

}  // namespace

ValueCodec::ValueCodec(const SymmetricKey& data_key) {
  Hash index = KeyedHash(data_key, AsBytes(kIndexKeyLabel));
  cipher_.emplace(data_key);
  std::copy(index.begin(), index.end(), index_key_.begin());
  OPENSSL_cleanse(index.data(), index.size());
}

ValueCodec::~ValueCodec() { OPENSSL_cleanse(index_key_.data(), index_key_.size()); }

bool ValueCodec::IsClearMetaKey(ByteView key) {
  std::string_view k = AsChars(key);
  return k == "store_format" || k == "encryption" || k == "key_check";
}

bool ValueCodec::StoredAsIs(Table table, ByteView key) {
  return table == Table::kChunks || (table == Table::kMeta && IsClearMetaKey(key));
}

Bytes ValueCodec::Seal(Table table, ByteView key, ByteView plaintext) const {
  if (!cipher_ || StoredAsIs(table, key)) {
    return Bytes(plaintext.begin(), plaintext.end());
  }
  return cipher_->Seal(plaintext, AssociatedData(table, key));
}

void ValueCodec::SealInto(Table table, ByteView key, ByteView plaintext,
                          std::span<uint8_t> out) const {
  if (WritesAsIs(table, key)) std::abort();  // a caller's bug: such a value is not sealed
  cipher_->SealInto(plaintext, AssociatedData(table, key), out);
}

Result<Bytes> ValueCodec::Open(Table table, ByteView key, ByteView stored) const {
  if (!cipher_ || StoredAsIs(table, key)) {
    return Bytes(stored.begin(), stored.end());
  }
  auto plain = cipher_->Open(stored, AssociatedData(table, key));
  if (!plain.ok()) {
    return Status::Corruption(std::string(TableName(table)) + " " + ToHex(key) +
                              ": authentication failed (the stored bytes were altered)");
  }
  return plain;
}

Bytes ValueCodec::Blind(ByteView name) const {
  if (!cipher_) return Bytes(name.begin(), name.end());
  Hash h = KeyedHash(index_key_, name);
  return Bytes(h.begin(), h.end());
}

}  // namespace khronika::store_internal

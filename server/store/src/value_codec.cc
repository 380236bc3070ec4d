#include "value_codec.h"

#include <openssl/crypto.h>

#include <string>

namespace khronika::store_internal {
namespace {

constexpr std::string_view kIndexKeyLabel = "khronika index key v1";

Bytes AssociatedData(Table table, ByteView key) {
  Bytes ad;
  ad.reserve(1 + key.size());
  ad.push_back(static_cast<uint8_t>(table));
  ad.insert(ad.end(), key.begin(), key.end());
  return ad;
}

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

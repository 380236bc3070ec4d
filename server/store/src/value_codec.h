// Every value passes through ValueCodec on its way to and from disk, and nowhere else, so
// encryption at rest lives here and no caller of the store knows about it. Private to the store.
//
// Encrypted stores (docs/format.md, "Encryption at rest"): each value is AES-256-GCM under the
// node's data key with a fresh random nonce, and the table and the database key as associated
// data, so a value cannot be moved to another key or table without failing its tag. Names that
// index keys would otherwise carry in clear (case ids, author keys) are replaced by a keyed hash
// under a second key derived from the data key (Blind).
#pragma once

#include <optional>
#include <span>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/seal.h"
#include "khronika/store/store.h"

namespace khronika::store_internal {

class ValueCodec {
 public:
  ValueCodec() = default;  // values stored as they are
  explicit ValueCodec(const SymmetricKey& data_key);
  ~ValueCodec();
  ValueCodec(const ValueCodec&) = delete;
  ValueCodec& operator=(const ValueCodec&) = delete;

  bool encrypted() const { return cipher_.has_value(); }
  // The bytes written to LMDB for `plaintext` stored under `key` in `table`.
  Bytes Seal(Table table, ByteView key, ByteView plaintext) const;
  // Whether that is `plaintext` itself (a store in clear, or a value StoredAsIs).
  bool WritesAsIs(Table table, ByteView key) const { return !cipher_ || StoredAsIs(table, key); }
  // Seal, into `out` of exactly plaintext.size() + kAeadOverhead bytes (space LMDB reserved for
  // the value), for a value that is not written as it is.
  void SealInto(Table table, ByteView key, ByteView plaintext, std::span<uint8_t> out) const;
  // The plaintext of a stored value; Corruption, naming the table and key, if its tag fails.
  Result<Bytes> Open(Table table, ByteView key, ByteView stored) const;
  // The index-key form of a name: its keyed hash when encrypted, the bytes themselves if not.
  Bytes Blind(ByteView name) const;

  // Values of the meta table that must be readable before the data key is known.
  static bool IsClearMetaKey(ByteView key);
  // Values stored as they are even in an encrypted store: the clear meta keys, and sealed
  // chunks, which are ciphertext already (a second AES pass would cost time and hide nothing;
  // their integrity is their id, SHA-256 of the stored bytes, checked by every reader).
  static bool StoredAsIs(Table table, ByteView key);

 private:
  std::optional<AeadKey> cipher_;  // the data key
  SymmetricKey index_key_{};
};

}  // namespace khronika::store_internal

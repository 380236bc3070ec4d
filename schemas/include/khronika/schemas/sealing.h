// Format 2's keys and sealed boxes (docs/format.md, "Keys" and "Sealed boxes").
//
// One archive key per origin; everything else derives from it one way with HKDF-Expand-SHA-256,
// so a key handed out opens what it names and nothing above or beside it:
//
//   archive key ─┬─ case key (case id) ─┬─ entry key (entry nonce)    the author-signed entry
//                │                      ├─ link key (entry nonce)     the case chain
//                │                      └─ file key (entry nonce, i)  file i: content, descriptor
//                └─ index key (entry nonce)                           which case an entry is in
//
// Boxes are AES-256-GCM under a key used for exactly one box, so the nonce is fixed (zero) and
// the label is the associated data; their plaintext is padded so that lengths say little.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/seal.h"

namespace khronika {

inline constexpr size_t kEntryNonceBytes = 32;
using EntryNonce = std::array<uint8_t, kEntryNonceBytes>;
inline constexpr size_t kCommitmentSaltBytes = 32;
using CommitmentSalt = std::array<uint8_t, kCommitmentSaltBytes>;

// The smallest padded file: below it every file looks the same size.
inline constexpr uint64_t kMinPaddedFileSize = 512;

SymmetricKey DeriveCaseKey(const SymmetricKey& archive_key, std::string_view case_id);
SymmetricKey DeriveIndexKey(const SymmetricKey& archive_key, const EntryNonce& nonce);
SymmetricKey DeriveEntryKey(const SymmetricKey& case_key, const EntryNonce& nonce);
SymmetricKey DeriveLinkKey(const SymmetricKey& case_key, const EntryNonce& nonce);
SymmetricKey DeriveFileKey(const SymmetricKey& case_key, const EntryNonce& nonce,
                           uint32_t file_index);
SymmetricKey DeriveDescriptorKey(const SymmetricKey& file_key);

// The C2SP chunked-encryption context of a file's content, sealed under its file key.
inline constexpr std::string_view kFileContentContext = "khronika/2 file content";

// Padmé (Nikitin et al., PETS 2019): rounds a length up so that it keeps only about log2(log2(L))
// significant bits; at most 12% larger, and a padded length stands for many true lengths.
uint64_t Padme(uint64_t length);
// A file's length once padded for sealing: max(kMinPaddedFileSize, Padme(size)).
uint64_t PaddedFileSize(uint64_t size);

// Box labels: the associated data, so a box cannot be passed off as another kind.
inline constexpr std::string_view kIndexBoxLabel = "khronika/2 index box";
inline constexpr std::string_view kLinkBoxLabel = "khronika/2 link box";
inline constexpr std::string_view kEntryBoxLabel = "khronika/2 entry box";
inline constexpr std::string_view kDescriptorBoxLabel = "khronika/2 descriptor box";

// The padded plaintext of a box: u32 big-endian length || value || zero bytes, `padded_size`
// bytes in all (InvalidArgument if the value does not fit).
Result<Bytes> PadValue(ByteView value, size_t padded_size);
// Checks the length and that every padding byte is zero; Corruption otherwise.
Result<Bytes> UnpadValue(ByteView padded);
// The padded size of a variable box (entries): Padme(4 + length), at least 256 bytes.
size_t PaddedBoxSize(size_t value_length);

// AES-256-GCM with a zero nonce: `key` must never seal anything else. Output: ciphertext || tag.
Bytes BoxSeal(const SymmetricKey& key, std::string_view label, ByteView padded_plaintext);
// Corruption if the box was altered, or it is not this key's or this label's.
Result<Bytes> BoxOpen(const SymmetricKey& key, std::string_view label, ByteView box);

// A salted commitment to a file's descriptor, which the author signs: SHA-256("khronika/2 file
// commitment" || 0x00 || salt || descriptor bytes). The salt keeps a guessed descriptor from
// being confirmed against it.
Hash FileCommitment(const CommitmentSalt& salt, ByteView descriptor_bytes);

}  // namespace khronika

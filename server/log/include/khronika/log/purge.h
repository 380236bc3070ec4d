// Deleting the plaintext upload chunks that an append sealed (docs/format-2.md section 7).
//
// An append deletes a small entry's upload chunks in its own transaction. A larger one's (a
// 2 GiB file has 2048) are recorded there instead, under keys::PendingPurge, and deleted in
// small transactions right after the commit: one transaction freeing every page of a 1 TiB file
// would hold a list of 268 million freed pages. A crash between the commit and the end of that
// deletion leaves the record, and the next Node::Open finishes it.
#pragma once

#include <cstddef>

#include "khronika/schemas/objects.h"
#include "khronika/store/store.h"

namespace khronika {

namespace keys {
// "purge/" || sealed entry id (32) in Table::kMeta: the upload chunks an appended entry sealed
// that are still to be deleted. The value (encrypted at rest in an encrypted store): version
// 0x01, the uploader's length (8 bytes, big-endian), the uploader, then the distinct upload
// chunk ids, 32 bytes each.
inline constexpr std::string_view kMetaPurgePrefix = "purge/";
inline Bytes PendingPurge(const Hash& entry_id) {
  Bytes k(kMetaPurgePrefix.begin(), kMetaPurgePrefix.end());
  k.insert(k.end(), entry_id.begin(), entry_id.end());
  return k;
}
}  // namespace keys

// Upload chunks an append deletes in its own transaction; more are deleted this many at a time
// after its commit.
inline constexpr size_t kPurgeChunksPerTxn = 16;

// Deletes the upload chunks that every keys::PendingPurge marker names, kPurgeChunksPerTxn per
// transaction, each marker with its last chunks. Returns how many markers it finished.
Result<size_t> PurgeSealedUploads(Store& store);

// Test seam: when set, called after an append's transaction has committed and before the upload
// chunks it recorded are deleted (a test ends the process there, as a crash would). Null in
// production.
inline void (*g_after_append_commit_for_test)() = nullptr;

}  // namespace khronika

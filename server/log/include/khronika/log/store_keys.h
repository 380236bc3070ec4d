// How the log lays its data out in the store's tables (docs/format.md, "Store layout").
// Integers in keys are big-endian so that key order is numeric order.
#pragma once

#include <string_view>

#include "khronika/schemas/bytes.h"
#include "khronika/store/store.h"

namespace khronika::keys {

inline Bytes Record(const Hash& origin, uint64_t index) {
  Bytes k(origin.begin(), origin.end());
  AppendBigEndian64(k, index);
  return k;
}
inline Bytes Tree(const Hash& origin, unsigned level, uint64_t index) {
  Bytes k(origin.begin(), origin.end());
  k.push_back(static_cast<uint8_t>(level));
  AppendBigEndian64(k, index);
  return k;
}
inline Bytes Checkpoint(const Hash& origin, uint64_t size) { return Record(origin, size); }
// Case ids and author keys appear in index keys only as the transaction's Blind form: in an
// encrypted store a keyed hash, so that a seized disk does not list the cases or the people.
// Every case's records, in all logs.
inline Bytes CaseIdPrefix(const ReadTxn& txn, std::string_view case_id) {
  Bytes k = txn.Blind(AsBytes(case_id));
  k.push_back(0);
  return k;
}
inline Bytes CasePrefix(const ReadTxn& txn, std::string_view case_id, const Hash& origin) {
  Bytes k = CaseIdPrefix(txn, case_id);
  k.insert(k.end(), origin.begin(), origin.end());
  return k;
}
// The record at `index` under a CasePrefix already made (the keyed hash costs a microsecond).
inline Bytes CaseRecord(Bytes case_prefix, uint64_t index) {
  AppendBigEndian64(case_prefix, index);
  return case_prefix;
}
inline Bytes CaseRecord(const ReadTxn& txn, std::string_view case_id, const Hash& origin,
                        uint64_t index) {
  return CaseRecord(CasePrefix(txn, case_id, origin), index);
}
inline Bytes Author(const ReadTxn& txn, const PublicKey& author) { return txn.Blind(author); }
inline Bytes EntryLocation(const Hash& origin, uint64_t index) { return Record(origin, index); }

inline Bytes ManifestEntry(const Hash& manifest_id, const Hash& entry_id) {
  Bytes k(manifest_id.begin(), manifest_id.end());
  k.insert(k.end(), entry_id.begin(), entry_id.end());
  return k;
}

inline constexpr std::string_view kMetaNodeName = "node_name";
inline constexpr std::string_view kMetaLocalOrigin = "local_origin";
// Present while a node that took back an old identity has not yet pulled its own log back:
// appending then would fork the log it signed before.
inline constexpr std::string_view kMetaRestorePending = "restore_pending";

}  // namespace khronika::keys

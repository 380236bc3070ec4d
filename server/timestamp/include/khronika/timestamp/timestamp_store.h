// Where verified timestamp tokens live: Table::kTimestamps (docs/format.md section 12), one per
// checkpoint and TSA certificate. Only a token that passed VerifyTimestampResponse is put here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "khronika/store/store.h"
#include "khronika/timestamp/rfc3161.h"

namespace khronika {

struct StoredTimestamp {
  Hash origin{};
  uint64_t size = 0;        // the checkpoint's tree size
  std::string tsa_url;      // where it was asked (the node's statement)
  TimestampToken token;     // token, genTime, TSA name, certificate hash, verified chain
};

// origin (32) || size (u64 BE) || SHA-256 of the TSA certificate (32).
Bytes TimestampKey(const Hash& origin, uint64_t size, const Hash& tsa_cert_sha256);

// Stores `t` (replacing an earlier token of the same TSA certificate over the same checkpoint).
Status PutTimestamp(WriteTxn& txn, const StoredTimestamp& t);

// The tokens over `origin`'s checkpoint at `size`, in key order.
Result<std::vector<StoredTimestamp>> TimestampsAt(const ReadTxn& txn, const Hash& origin,
                                                  uint64_t size);

// The smallest size >= `min_size` at which `origin`'s log has a token here; or the largest of
// all with `latest`.
Result<std::optional<uint64_t>> SmallestTimestampedSize(const ReadTxn& txn, const Hash& origin,
                                                        uint64_t min_size);
Result<std::optional<uint64_t>> LatestTimestampedSize(const ReadTxn& txn, const Hash& origin);

// The stored value: JSON {"url", "gen_time", "gen_time_s", "tsa_name", "tsa_cert_sha256" (hex),
// "token" (base64 DER), "chain" (PEM)}. A reader that hands a token on (a bundle) checks it again.
std::string EncodeStoredTimestamp(const StoredTimestamp& t);
Result<StoredTimestamp> DecodeStoredTimestamp(ByteView key, ByteView value);

}  // namespace khronika

// Witnessing: after verifying a member's checkpoint, a node cosigns it (C2SP
// tlog-cosignature/v1) with its own witness key, and only once it holds every record, object
// and sealed chunk of that prefix: a cosignature means "verified and fully held" (as a C2SP
// tlog-mirror's), so `submit --replicas K` counts K other organisations holding a complete
// copy. Cosignatures are stored beside the checkpoint, served with it (so they gossip through
// heads), and counted for `submit --replicas K`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/note.h"
#include "khronika/store/store.h"

namespace khronika {

struct Witness {
  std::string name;  // "khronika/<node id>/witness"
  const SigningKey* key = nullptr;
};

// Whether records [from, to) of `origin` are held whole: each record, the object it names
// (matching its id and decoding as its type says) and every sealed chunk of a sealed entry
// (present, of its length, hashing to its id; CheckSealedChunks). Corruption naming the first
// thing missing or damaged.
Status CheckFullyHeld(const ReadTxn& txn, const Hash& origin, uint64_t from, uint64_t to);

// Cosigns the latest checkpoint held for `origin`, unless this witness already has, and only if
// the records since the last checkpoint this witness cosigned are held whole (CheckFullyHeld;
// what it cosigned before was checked then, and scrub keeps it). Returns whether a new
// cosignature was made; when the prefix is not held whole, false, with the reason in
// `*withheld` if given.
Result<bool> CosignLatest(Store& store, const Hash& origin, const Witness& witness,
                          uint64_t now_seconds, std::string* withheld = nullptr);

// The checkpoint note at `size` with every stored cosignature appended as further signature
// lines (still a valid C2SP signed note).
Result<std::string> CheckpointWithCosignatures(const ReadTxn& txn, const Hash& origin,
                                               uint64_t size);

// Stores the cosignatures in `note` that verify under a roster member's witness key and cover a
// checkpoint held here. Returns how many were new.
Result<size_t> IngestCosignatures(Store& store, const Hash& origin, std::string_view note);

// The witness (cosigner) key of every member that declared one.
Result<std::vector<std::pair<Hash, NoteVerifier>>> MemberWitnessKeys(const ReadTxn& txn);
// One signature line as the cosignatures table stores it.
Result<NoteSignatureLine> ParseStoredCosignature(ByteView stored);

struct VerifiedCosignature {
  std::string name;
  std::string vkey;
  uint64_t timestamp = 0;
  Hash member{};  // the member whose witness key it is
};
// Cosignatures on the checkpoint of `origin` at `size` that verify under members' witness keys.
Result<std::vector<VerifiedCosignature>> VerifiedCosignatures(const ReadTxn& txn,
                                                              const Hash& origin, uint64_t size);

}  // namespace khronika

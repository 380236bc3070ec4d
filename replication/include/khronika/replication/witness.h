// Witnessing: after verifying a member's checkpoint, a node cosigns it (C2SP
// tlog-cosignature/v1) with its own witness key. Cosignatures are stored beside the checkpoint,
// served with it (so they gossip through heads), and counted for `submit --replicas K`.
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

// Cosigns the latest checkpoint held for `origin`, unless this witness already has. Returns
// whether a new cosignature was made.
Result<bool> CosignLatest(Store& store, const Hash& origin, const Witness& witness,
                          uint64_t now_seconds);

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

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
#include "khronika/schemas/tlog_witness.h"
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

// ---- C2SP tlog-witness (https://c2sp.org/tlog-witness), both ways ----

// The size of the latest checkpoint of `origin` that `name` cosigned here, by the cosignatures
// stored in `table` (kCosignatures or kExternalCosignatures); 0 if none.
Result<uint64_t> LatestCosignedSize(const ReadTxn& txn, Table table, const Hash& origin,
                                    std::string_view name);

// What a witness answers to add-checkpoint: an HTTP status and its text body (200: the
// cosignature line; 409: the size it last cosigned, then LF; otherwise a message).
struct AddCheckpointAnswer {
  int status = 200;
  std::string body;
};

// This node as a C2SP witness of its roster members' logs (never its own). In the spec's order:
// 400 malformed note or old size beyond the checkpoint; 404 an origin not on the roster; 403 no
// valid signature by the roster key; 409 old size is not the size this witness last cosigned
// (whether through add-checkpoint or through sync); 422 a bad consistency proof, a size-0
// checkpoint, or a checkpoint contradicting the one held here at that size. It then cosigns
// only what it holds whole, as after a sync round (a cosignature by a partner means "verified
// and fully held"): a checkpoint it does not hold yet, or whose records since its last
// cosignature are not all held whole, answers 503 (sync first). The check of the last cosigned
// size and the write of the new cosignature happen in one write transaction, so two requests
// can never both pass with the same old size: a witness never cosigns two checkpoints of one
// log that are not consistent. Nothing is written unless the answer is 200.
Result<AddCheckpointAnswer> WitnessAddCheckpoint(Store& store, const Hash& self,
                                                 const Witness& witness,
                                                 const AddCheckpointRequest& request,
                                                 uint64_t now_seconds);

// An external witness from khronika.conf: `witness = URL VKEY [CA_FILE]`.
struct ExternalWitness {
  std::string url;      // https://host[:port][/prefix]: the submission prefix
  std::string vkey;     // its C2SP verifier key, type 0x04 (cosignature/v1)
  NoteVerifier verifier;
  std::string ca_file;  // empty: the system's CAs
};
Result<ExternalWitness> ParseExternalWitness(std::string_view line);

// Stores those of `lines` that are valid cosignatures by `witness` on the checkpoint of
// `origin` held here at `size` (table external_cosignatures). Returns how many were new.
Result<size_t> StoreExternalCosignatures(Store& store, const Hash& origin, uint64_t size,
                                         const std::vector<NoteSignatureLine>& lines,
                                         const ExternalWitness& witness);

struct ExternalCosignature {
  std::string name;
  std::string vkey;
  uint64_t timestamp = 0;
  NoteSignatureLine line;
};
// External cosignatures on the checkpoint of `origin` at `size`, each verified again under the
// verifier key stored with it.
Result<std::vector<ExternalCosignature>> VerifiedExternalCosignatures(const ReadTxn& txn,
                                                                      const Hash& origin,
                                                                      uint64_t size);
// The sizes at which checkpoints of `origin` have external cosignatures, ascending.
Result<std::vector<uint64_t>> ExternallyCosignedSizes(const ReadTxn& txn, const Hash& origin);

}  // namespace khronika

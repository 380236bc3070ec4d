// The git mirror (docs/format.md, "Git mirror"): every log a node holds, exported with libgit2 to
// a bare git repository that stock git can clone, fsck and carry anywhere, and read back.
//
//   refs/heads/logs/<origin hex>         one commit per record, in record order; the tree holds
//                                        record.bin, object.bin (the logged object) and, for a
//                                        sealed entry, files/<n>.sealed (file n as sealed: its
//                                        sealed chunks end to end). Ciphertext only: no case id,
//                                        name, media type or plaintext hash in any blob, path or
//                                        commit. Deterministic: two nodes holding the same log
//                                        write the same commit ids.
//   refs/heads/checkpoints/<origin hex>  origin.vkey, cosigners/<member hex>.vkey and
//                                        notes/<size, 20 digits>.note (signed checkpoints with
//                                        the cosignatures held), merged with what is already there.
//
// Thread safety: each call opens its own repository handle; a MirrorTransport belongs to one
// thread. Two processes may work on one repository: branch updates are compare-and-swap.
// Memory: export streams sealed files chunk by chunk into the repository; reading one back
// (verify, import) holds that one whole sealed file in memory, since libgit2 has no streaming
// blob read.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "khronika/replication/sync.h"
#include "khronika/schemas/crypto.h"
#include "khronika/store/store.h"

namespace khronika {

inline constexpr std::string_view kMirrorLogsPrefix = "refs/heads/logs/";
inline constexpr std::string_view kMirrorCheckpointsPrefix = "refs/heads/checkpoints/";

struct MirrorLogExport {
  Hash origin{};
  uint64_t from = 0;  // records already in the mirror before
  uint64_t to = 0;    // records in the mirror after
  bool checkpoints_updated = false;
  Status status;  // e.g. the mirror's branch holds a different log: nothing written for it
};

struct MirrorExport {
  std::vector<MirrorLogExport> logs;
  // The repository directory's permission bits before this call, when the group or others could
  // read or enter it: the call set it to 0700. nullopt when it was private already, or new.
  std::optional<unsigned> loosened_mode;
};

// Creates the bare repository if needed and appends, for every log in the store, the records not
// yet exported. Per-log problems are in the results; the call fails only when the repository
// cannot be opened or created (a path that exists and is neither a bare repository nor an empty
// directory is refused) or made private.
// The mirror holds ciphertext only (format 2), yet its sizes, times and shape are still the
// federation's business: a repository it creates is mode 0700, and an existing one that the
// group or others could read or enter is set to 0700 before anything is written (an error if
// that fails).
Result<MirrorExport> ExportMirror(Store& store, const std::filesystem::path& git_dir);

struct MirrorLogReport {
  Hash origin{};
  uint64_t records = 0;
  uint64_t checkpoints = 0;        // signed checkpoints that verified against the records
  uint64_t largest_verified = 0;   // size of the largest of them
  size_t cosigners = 0;            // distinct witnesses whose cosignatures verified
  bool trusted = false;            // with a MirrorTrust: none of its three problems for this log
};
struct MirrorVerifyReport {
  std::vector<MirrorLogReport> logs;
  std::vector<std::string> problems;  // one line each, naming the branch, commit and file
  std::vector<std::string> warnings;  // e.g. records not yet covered by a checkpoint
  bool ok() const { return problems.empty(); }
};
// Keys obtained out of band (`mirror verify --trust FILE`), as (key name, key): C2SP verifier
// keys of origins and witness (cosigner) verifier keys.
struct MirrorTrust {
  std::set<std::pair<std::string, PublicKey>> origins, cosigners;
};

// Re-verifies every log from the repository alone (no store, no network). With `trust`, the
// keys the repository carries must be among the trusted ones; each of these is a problem:
//  - a logs/<o> branch whose origin o has no verifier key in `trust` (named khronika/<o>, whose
//    SHA-256 is o: the only key that origin.vkey may hold);
//  - a witness key in checkpoints/<o>/cosigners/ that is not in `trust` (its cosignatures are
//    then not counted either);
//  - a log with records of which no signed checkpoint verifies: nothing trusted vouches for it.
Result<MirrorVerifyReport> VerifyMirror(const std::filesystem::path& git_dir,
                                        const MirrorTrust* trust = nullptr);

// Reads a mirror as if it were a peer, so that `PullFromPeer` imports from it with every check
// that sync makes (roster keys, signatures, hash chains, Merkle roots, objects, sealed chunk
// hashes) before any write. Heads are, per logs branch, the largest note of its checkpoints
// branch that covers no more than the branch's records; a log without one is not offered.
Result<std::unique_ptr<PeerTransport>> OpenMirrorTransport(const std::filesystem::path& git_dir);

// Pushes every refs/heads/logs/* and refs/heads/checkpoints/* branch to `remote_url` (a path,
// file://, or any URL libgit2 supports). Fast-forward only: a remote holding a different
// history for a branch is an error naming it.
Status PushMirror(const std::filesystem::path& git_dir, const std::string& remote_url);
// Fetches the remote's refs/heads/logs/* and refs/heads/checkpoints/* into the mirror,
// replacing the local branches (the mirror is a cache; everything read from it is verified).
// Creates the bare repository if missing, private as ExportMirror makes it; an empty remote is
// not an error.
Status FetchMirror(const std::filesystem::path& git_dir, const std::string& remote_url);

}  // namespace khronika

// Private to khronika_replication: the git mirror's layout (docs/format.md §16), shared by export
// (mirror_export.cc), verify (mirror_verify.cc), the mirror read as a peer (mirror_import.cc)
// and push/fetch (mirror_remote.cc): branch and file names, what a record's commit must say, and
// the readers that walk a logs branch.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "git_handles.h"
#include "khronika/replication/git_mirror.h"
#include "khronika/schemas/objects.h"

namespace khronika::mirror {

inline constexpr std::string_view kNotesDir = "notes";
inline constexpr std::string_view kCosignersDir = "cosigners";
inline constexpr std::string_view kFilesDir = "files";
inline constexpr std::string_view kRecordFile = "record.bin";
inline constexpr std::string_view kObjectFile = "object.bin";

std::string LogsRef(const Hash& origin);         // refs/heads/logs/<origin hex>
std::string CheckpointsRef(const Hash& origin);  // refs/heads/checkpoints/<origin hex>
// How problems name a branch: "logs/0123456789abcdef…".
std::string ShortBranch(std::string_view kind, const Hash& origin);

// files/<n>.sealed of a record's tree: file n of its sealed entry as sealed (the C2SP message,
// its sealed chunks end to end). Named by position only: no name, type or hash of plaintext.
std::string SealedFileName(size_t n);

// notes/<size, 20 digits>.note; parsing refuses anything else, and sizes above 2^64 - 1.
std::string NoteFileName(uint64_t size);
std::optional<uint64_t> ParseNoteFileName(std::string_view name);
// cosigners/<member id, 64 hex>.vkey -> member id.
std::optional<Hash> ParseCosignerFileName(std::string_view name);

// What the layout prescribes for the commit of one record: export writes it, verify compares.
struct RecordCommitMeta {
  git::Repo::Person author, committer;
  std::string message;
};
// Everything in it comes from the record: a partner knows no author, case or time of writing.
RecordCommitMeta ExpectedMeta(const Record& r, ByteView record_bytes);
// Who signs the commits of a checkpoints branch, at the time of the log's tip commit.
git::Repo::Person CheckpointsSigner(int64_t time);

// The regular file `name` of `tree`, read whole if it has at most max_bytes. Errors name it by
// `path` (as "files/0.pdf"): "<path> is missing", "<path> is not a regular file (mode 100644)"
// (both Corruption), "<path> cannot be read: <why>" (the read's own code).
Result<Bytes> TreeFile(const git::Repo& repo, const git_tree* tree, const std::string& name,
                       const std::string& path, size_t max_bytes);

// One commit of a logs branch.
struct ChainLink {
  git_oid commit;
  git_oid tree;
  unsigned parents = 0;
};
// The commits from `tip` back along first parents to the root, in record order.
Result<std::vector<ChainLink>> FirstParentChain(const git::Repo& repo, const git_oid& tip);

// record.bin of a commit, with its decoded record (which may fail to decode).
struct CommitRecord {
  Bytes bytes;
  Result<Record> record = Status::NotFound("not read");
};
Result<CommitRecord> ReadRecordOfCommit(const git::Repo& repo, const git_oid& commit);

// The mirror's repository for writing (export, fetch): opened, or created mode 0700. The mirror
// holds ciphertext only, but its sizes and times are still the federation's business, so an
// existing directory that the group or others may read or
// enter is set to 0700 before anything is written, and its former permission bits are returned
// (nullopt when it was private already). One that cannot be made private is an error.
struct PrivateRepo {
  git::Repo repo;
  std::optional<unsigned> loosened_mode;
};
Result<PrivateRepo> OpenPrivateRepo(const std::filesystem::path& git_dir);

}  // namespace khronika::mirror

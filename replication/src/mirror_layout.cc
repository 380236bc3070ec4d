#include "mirror_layout.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "khronika/replication/protocol.h"

namespace khronika::mirror {
namespace {

int64_t GitSeconds(int64_t ms) { return ms < 0 ? 0 : ms / 1000; }

constexpr std::string_view kMirrorSignatureName = "khronika mirror";
constexpr std::string_view kMirrorSignatureEmail = "mirror@khronika.invalid";

}  // namespace

std::string LogsRef(const Hash& origin) { return std::string(kMirrorLogsPrefix) + ToHex(origin); }
std::string CheckpointsRef(const Hash& origin) {
  return std::string(kMirrorCheckpointsPrefix) + ToHex(origin);
}
std::string ShortBranch(std::string_view kind, const Hash& origin) {
  return std::string(kind) + "/" + ToHex(origin).substr(0, 16) + "\u2026";
}

std::string SealedFileName(size_t n) { return std::to_string(n) + ".sealed"; }

std::string NoteFileName(uint64_t size) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%020llu.note", static_cast<unsigned long long>(size));
  return buf;
}
std::optional<uint64_t> ParseNoteFileName(std::string_view name) {
  if (name.size() != 25 || name.substr(20) != ".note") return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}
std::optional<Hash> ParseCosignerFileName(std::string_view name) {
  if (name.size() != 69 || name.substr(64) != ".vkey") return std::nullopt;
  auto h = ParseHashHex(name.substr(0, 64));
  if (!h.ok()) return std::nullopt;
  return *h;
}

RecordCommitMeta ExpectedMeta(const Record& r, ByteView record_bytes) {
  RecordCommitMeta m;
  std::string origin = ToHex(r.origin);
  m.author = {"node " + origin.substr(0, 16), origin + "@nodes.khronika.invalid",
              GitSeconds(r.received_at_ms)};
  m.committer = m.author;
  m.message = "khronika record " + std::to_string(r.index) + " of " + origin + "\n\nobject-id: " +
              ToHex(r.object_id) + "\nrecord-hash: " + ToHex(RecordHash(record_bytes)) +
              "\nleaf-hash: " + ToHex(LeafHash(record_bytes)) + "\n";
  return m;
}

git::Repo::Person CheckpointsSigner(int64_t time) {
  return {std::string(kMirrorSignatureName), std::string(kMirrorSignatureEmail), time};
}

Result<Bytes> TreeFile(const git::Repo& repo, const git_tree* tree, const std::string& name,
                       const std::string& path, size_t max_bytes) {
  const git_tree_entry* e = git::EntryNamed(tree, name);
  if (!e) return Status::Corruption(path + " is missing");
  if (!git::IsBlobEntry(e)) return Status::Corruption(path + " is not a regular file (mode 100644)");
  auto bytes = repo.SmallBlob(*git_tree_entry_id(e), max_bytes);
  if (!bytes.ok()) return bytes.status().Annotate(path + " cannot be read");
  return bytes;
}

Result<std::vector<ChainLink>> FirstParentChain(const git::Repo& repo, const git_oid& tip) {
  std::vector<ChainLink> out;
  git_oid cur = tip;
  for (;;) {
    KH_ASSIGN_OR_RETURN(git::CommitPtr c, repo.Commit(cur));
    ChainLink link;
    link.commit = cur;
    link.tree = *git_commit_tree_id(c.get());
    link.parents = git_commit_parentcount(c.get());
    out.push_back(link);
    if (link.parents == 0) break;
    cur = *git_commit_parent_id(c.get(), 0);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<CommitRecord> ReadRecordOfCommit(const git::Repo& repo, const git_oid& commit) {
  KH_ASSIGN_OR_RETURN(git::TreePtr tree, repo.TreeOfCommit(commit));
  const git_tree_entry* e = git::EntryNamed(tree.get(), std::string(kRecordFile));
  if (!git::IsBlobEntry(e)) {
    return Status::Corruption("commit " + git::ShortOid(commit) + " has no record.bin");
  }
  CommitRecord out;
  KH_ASSIGN_OR_RETURN(out.bytes, repo.SmallBlob(*git_tree_entry_id(e), kMaxRecordFrame));
  out.record = DecodeRecord(out.bytes);
  return out;
}

Result<PrivateRepo> OpenPrivateRepo(const std::filesystem::path& git_dir) {
  KH_ASSIGN_OR_RETURN(git::Repo repo, git::Repo::OpenOrCreate(git_dir));
  PrivateRepo out{std::move(repo), std::nullopt};
  // libgit2 writes objects 0444 and directories 0777 less the umask, and reads no
  // core.sharedRepository when it writes: the top directory is what keeps them private.
  struct stat st {};
  if (::stat(git_dir.c_str(), &st) != 0) {
    return Status::IOError("reading the mode of " + git_dir.string() + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    if (::chmod(git_dir.c_str(), 0700) != 0) {
      return Status::IOError("cannot make " + git_dir.string() +
                             " private (mode 0700) before writing the mirror into it: " +
                             std::strerror(errno));
    }
    out.loosened_mode = static_cast<unsigned>(st.st_mode & 07777);
  }
  return out;
}

}  // namespace khronika::mirror

// The git mirror with libgit2. This file is the one place that calls libgit2: every handle has a
// unique_ptr with its git_*_free deleter, and every failing call becomes a Status carrying
// git_error_last()'s message, read at once on the same thread.
#include "khronika/replication/git_mirror.h"

#include <git2.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/protocol.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

// ---------------------------------------------------------------------------------------------
// libgit2: initialisation, errors, handles

// libgit2 is initialised once per process, on first use, and shut down at exit.
struct LibGit2Runtime {
  LibGit2Runtime() { git_libgit2_init(); }
  ~LibGit2Runtime() { git_libgit2_shutdown(); }
  LibGit2Runtime(const LibGit2Runtime&) = delete;
  LibGit2Runtime& operator=(const LibGit2Runtime&) = delete;
};
void EnsureLibGit2() { static LibGit2Runtime runtime; }

Status GitFailure(int rc, std::string_view what) {
  const git_error* e = git_error_last();
  std::string msg(what);
  msg += ": ";
  msg += (e && e->message) ? std::string(e->message) : "libgit2 error " + std::to_string(rc);
  switch (rc) {
    case GIT_ENOTFOUND: return Status::NotFound(msg);
    case GIT_EEXISTS:
    case GIT_ENONFASTFORWARD:
    case GIT_EMODIFIED: return Status::AlreadyExists(msg);
    case GIT_EINVALIDSPEC:
    case GIT_EINVALID: return Status::InvalidArgument(msg);
    default: return Status::IOError(msg);
  }
}
// Call right after the libgit2 call, on the same thread, so that git_error_last() is its error.
Status Git(int rc, std::string_view what) { return rc < 0 ? GitFailure(rc, what) : Status::Ok(); }

template <auto Free>
struct GitFree {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
template <typename T, auto Free>
using GitHandle = std::unique_ptr<T, GitFree<Free>>;
using RepoPtr = GitHandle<git_repository, &git_repository_free>;
using OdbPtr = GitHandle<git_odb, &git_odb_free>;
using OdbStreamPtr = GitHandle<git_odb_stream, &git_odb_stream_free>;
using TreePtr = GitHandle<git_tree, &git_tree_free>;
using TreeEntryPtr = GitHandle<git_tree_entry, &git_tree_entry_free>;
using BuilderPtr = GitHandle<git_treebuilder, &git_treebuilder_free>;
using CommitPtr = GitHandle<git_commit, &git_commit_free>;
using SignaturePtr = GitHandle<git_signature, &git_signature_free>;
using RemotePtr = GitHandle<git_remote, &git_remote_free>;
using RefIterPtr = GitHandle<git_reference_iterator, &git_reference_iterator_free>;
using ReferencePtr = GitHandle<git_reference, &git_reference_free>;
using BlobPtr = GitHandle<git_blob, &git_blob_free>;

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}
std::string ShortOid(const git_oid& oid) { return OidHex(oid).substr(0, 12); }

// ---------------------------------------------------------------------------------------------
// Layout names

constexpr std::string_view kNotePrefixDir = "notes";
constexpr std::string_view kCosignersDir = "cosigners";
constexpr std::string_view kMirrorSignatureName = "khronika mirror";
constexpr std::string_view kMirrorSignatureEmail = "mirror@khronika.invalid";

std::string LogsRef(const Hash& origin) { return std::string(kMirrorLogsPrefix) + ToHex(origin); }
std::string CheckpointsRef(const Hash& origin) {
  return std::string(kMirrorCheckpointsPrefix) + ToHex(origin);
}
// How problems name a branch: "logs/0123456789abcdef…".
std::string ShortBranch(std::string_view kind, const Hash& origin) {
  return std::string(kind) + "/" + ToHex(origin).substr(0, 16) + "\u2026";
}

std::string NoteFileName(uint64_t size) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%020llu.note", static_cast<unsigned long long>(size));
  return buf;
}
// "<20 digits>.note" -> size; anything else (including a value above 2^64 - 1) -> nullopt.
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
// "<64 hex>.vkey" -> member id.
std::optional<Hash> ParseCosignerFileName(std::string_view name) {
  if (name.size() != 69 || name.substr(64) != ".vkey") return std::nullopt;
  auto h = ParseHashHex(name.substr(0, 64));
  if (!h.ok()) return std::nullopt;
  return *h;
}

int64_t GitSeconds(int64_t ms) { return ms < 0 ? 0 : ms / 1000; }

// What the layout prescribes for the commit of one record.
struct RecordCommitMeta {
  std::string author_name, author_email, committer_name, committer_email, message;
  int64_t author_time = 0, committer_time = 0;
};
RecordCommitMeta ExpectedMeta(const Record& r, const Entry& e, ByteView record_bytes) {
  RecordCommitMeta m;
  std::string author = ToHex(e.author), origin = ToHex(r.origin);
  m.author_name = "author " + author.substr(0, 16);
  m.author_email = author + "@authors.khronika.invalid";
  m.author_time = GitSeconds(e.created_at_ms);
  m.committer_name = "node " + origin.substr(0, 16);
  m.committer_email = origin + "@nodes.khronika.invalid";
  m.committer_time = GitSeconds(r.received_at_ms);
  m.message = "khronika record " + std::to_string(r.index) + " of " + origin + "\n\nentry-id: " +
              ToHex(r.entry_id) + "\nrecord-hash: " + ToHex(RecordHash(record_bytes)) +
              "\nleaf-hash: " + ToHex(LeafHash(record_bytes)) + "\n";
  return m;
}

Result<std::string> EntryJsonText(const Entry& e) {
  try {
    return JsonFileText(ToJson(e));
  } catch (const nlohmann::json::exception& ex) {
    return Status::Corruption(std::string("entry cannot be shown as JSON: ") + ex.what());
  }
}

bool SameLine(const NoteSignatureLine& a, const NoteSignatureLine& b) {
  return a.name == b.name && a.key_id == b.key_id && a.signature == b.signature;
}

// The store's note, with any signature line of `theirs` (the mirror's note at the same size)
// that it lacks, when both sign the same body.
std::string MergeNote(const std::string& ours, const std::string& theirs) {
  auto a = ParseSignedNote(ours);
  auto b = ParseSignedNote(theirs);
  if (!a.ok() || !b.ok() || a->text != b->text) return ours;
  bool added = false;
  for (const NoteSignatureLine& line : b->signatures) {
    if (a->signatures.size() >= kMaxNoteSignatures) break;
    bool have = std::any_of(a->signatures.begin(), a->signatures.end(),
                            [&](const NoteSignatureLine& l) { return SameLine(l, line); });
    if (!have) {
      a->signatures.push_back(line);
      added = true;
    }
  }
  return added ? FormatSignedNote(*a) : ours;
}

// The compact form of a Merkle tree being built leaf by leaf: the perfect subtrees, largest
// first, whose sizes are the binary digits of the leaf count. The root costs O(log n).
class CompactRange {
 public:
  void Append(const Hash& leaf) {
    stack_.push_back({0, leaf});
    while (stack_.size() >= 2 && stack_[stack_.size() - 2].first == stack_.back().first) {
      Hash right = stack_.back().second;
      stack_.pop_back();
      stack_.back().second = HashChildren(stack_.back().second, right);
      stack_.back().first += 1;
    }
  }
  Hash Root() const {
    if (stack_.empty()) return MerkleEmptyRoot();
    Hash h = stack_.back().second;
    for (size_t i = stack_.size() - 1; i-- > 0;) h = HashChildren(stack_[i].second, h);
    return h;
  }

 private:
  std::vector<std::pair<unsigned, Hash>> stack_;
};

// ---------------------------------------------------------------------------------------------
// One open repository

Status CheckRepoPath(const std::filesystem::path& dir) {
  std::string s = dir.string();
  if (s.empty()) return Status::InvalidArgument("no git repository path given");
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return Status::InvalidArgument("the git repository path holds a control character");
    }
  }
  return Status::Ok();
}

struct TreeItem {
  std::string name;
  git_oid oid;
  git_filemode_t mode;
};

class Repo {
 public:
  // An existing bare repository.
  static Result<Repo> Open(const std::filesystem::path& dir) {
    EnsureLibGit2();
    KH_RETURN_IF_ERROR(CheckRepoPath(dir));
    git_repository* raw = nullptr;
    int rc = git_repository_open_bare(&raw, dir.c_str());
    if (rc == GIT_ENOTFOUND) {
      return Status::NotFound(dir.string() + " is not a git repository");
    }
    KH_RETURN_IF_ERROR(Git(rc, "opening " + dir.string()));
    return Wrap(RepoPtr(raw), dir);
  }

  // An existing bare repository, or a new one in a missing or empty directory.
  static Result<Repo> OpenOrCreate(const std::filesystem::path& dir) {
    EnsureLibGit2();
    KH_RETURN_IF_ERROR(CheckRepoPath(dir));
    std::error_code ec;
    auto st = std::filesystem::symlink_status(dir, ec);
    bool exists = !ec && std::filesystem::exists(st);
    if (exists) {
      if (!std::filesystem::is_directory(std::filesystem::status(dir, ec))) {
        return Status::InvalidArgument(dir.string() + " exists and is not a directory");
      }
      auto opened = Open(dir);
      if (opened.ok() || opened.status().code() != Code::kNotFound) return opened;
      if (!std::filesystem::is_empty(dir, ec) || ec) {
        return Status::InvalidArgument(dir.string() +
                                       " is neither a bare git repository nor an empty directory");
      }
    }
    git_repository* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_repository_init(&raw, dir.c_str(), /*is_bare=*/1),
                           "creating the bare repository " + dir.string()));
    return Wrap(RepoPtr(raw), dir);
  }

  git_repository* get() const { return repo_.get(); }

  Result<std::optional<git_oid>> RefTarget(const std::string& name) const {
    git_oid oid;
    int rc = git_reference_name_to_id(&oid, repo_.get(), name.c_str());
    if (rc == GIT_ENOTFOUND) return std::optional<git_oid>();
    KH_RETURN_IF_ERROR(Git(rc, "reading " + name));
    return std::optional<git_oid>(oid);
  }

  // Every branch under `prefix` ("refs/heads/logs/"), by the rest of its name.
  Result<std::map<std::string, git_oid>> Branches(std::string_view prefix) const {
    std::map<std::string, git_oid> out;
    git_reference_iterator* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_reference_iterator_new(&raw, repo_.get()), "listing references"));
    RefIterPtr it(raw);
    std::vector<std::string> names;
    for (;;) {
      const char* name = nullptr;
      int rc = git_reference_next_name(&name, it.get());
      if (rc == GIT_ITEROVER) break;
      KH_RETURN_IF_ERROR(Git(rc, "listing references"));
      std::string_view n(name);
      if (n.size() > prefix.size() && n.substr(0, prefix.size()) == prefix) names.emplace_back(n);
    }
    for (const std::string& name : names) {
      KH_ASSIGN_OR_RETURN(std::optional<git_oid> oid, RefTarget(name));
      if (oid) out.emplace(name.substr(prefix.size()), *oid);
    }
    return out;
  }

  Result<CommitPtr> Commit(const git_oid& oid) const {
    git_commit* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_commit_lookup(&raw, repo_.get(), &oid), "commit " + ShortOid(oid)));
    return CommitPtr(raw);
  }
  Result<TreePtr> Tree(const git_oid& oid) const {
    git_tree* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_tree_lookup(&raw, repo_.get(), &oid), "tree " + ShortOid(oid)));
    return TreePtr(raw);
  }
  Result<BlobPtr> Blob(const git_oid& oid) const {
    git_blob* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_blob_lookup(&raw, repo_.get(), &oid), "blob " + ShortOid(oid)));
    return BlobPtr(raw);
  }
  // An object's size, checking that it is a blob, without reading its content.
  Result<uint64_t> BlobSize(const git_oid& oid) const {
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    KH_RETURN_IF_ERROR(Git(git_odb_read_header(&size, &type, odb_.get(), &oid),
                           "object " + ShortOid(oid)));
    if (type != GIT_OBJECT_BLOB) return Status::Corruption("object " + ShortOid(oid) + " is not a blob");
    return uint64_t{size};
  }
  // A small blob's bytes, refusing one larger than max_bytes before reading it.
  Result<Bytes> SmallBlob(const git_oid& oid, size_t max_bytes) const {
    KH_ASSIGN_OR_RETURN(uint64_t size, BlobSize(oid));
    if (size > max_bytes) {
      return Status::Corruption("it has " + std::to_string(size) + " bytes, more than the " +
                                std::to_string(max_bytes) + " allowed");
    }
    KH_ASSIGN_OR_RETURN(BlobPtr blob, Blob(oid));
    const auto* p = static_cast<const uint8_t*>(git_blob_rawcontent(blob.get()));
    return Bytes(p, p + git_blob_rawsize(blob.get()));
  }

  Result<git_oid> WriteBlob(ByteView data) const {
    git_oid oid;
    KH_RETURN_IF_ERROR(Git(git_blob_create_from_buffer(&oid, repo_.get(), data.data(), data.size()),
                           "writing a blob"));
    return oid;
  }
  Result<git_oid> WriteTree(const std::vector<TreeItem>& items) const {
    git_treebuilder* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_treebuilder_new(&raw, repo_.get(), nullptr), "building a tree"));
    BuilderPtr builder(raw);
    for (const TreeItem& item : items) {
      KH_RETURN_IF_ERROR(Git(git_treebuilder_insert(nullptr, builder.get(), item.name.c_str(),
                                                    &item.oid, item.mode),
                             "adding " + item.name + " to a tree"));
    }
    git_oid oid;
    KH_RETURN_IF_ERROR(Git(git_treebuilder_write(&oid, builder.get()), "writing a tree"));
    return oid;
  }
  // Opens a blob stream of `size` bytes: the content goes to disk as it comes.
  Result<OdbStreamPtr> BlobStream(uint64_t size) const {
    git_odb_stream* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_odb_open_wstream(&raw, odb_.get(), size, GIT_OBJECT_BLOB),
                           "opening a blob stream"));
    return OdbStreamPtr(raw);
  }

  Result<git_oid> WriteCommit(const git_oid& tree_oid, const std::optional<git_oid>& parent,
                              const std::string& author_name, const std::string& author_email,
                              int64_t author_time, const std::string& committer_name,
                              const std::string& committer_email, int64_t committer_time,
                              const std::string& message) const {
    git_signature* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_signature_new(&raw, author_name.c_str(), author_email.c_str(),
                                             author_time, 0),
                           "making the author signature"));
    SignaturePtr author(raw);
    raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_signature_new(&raw, committer_name.c_str(),
                                             committer_email.c_str(), committer_time, 0),
                           "making the committer signature"));
    SignaturePtr committer(raw);
    KH_ASSIGN_OR_RETURN(TreePtr tree, Tree(tree_oid));
    CommitPtr parent_commit;
    if (parent) {
      KH_ASSIGN_OR_RETURN(parent_commit, Commit(*parent));
    }
    const git_commit* parents[1] = {parent_commit.get()};
    git_oid oid;
    KH_RETURN_IF_ERROR(Git(git_commit_create(&oid, repo_.get(), nullptr, author.get(),
                                             committer.get(), nullptr, message.c_str(),
                                             tree.get(), parent ? 1 : 0, parents),
                           "writing a commit"));
    return oid;
  }

  // Moves `name` from `expected` (nullopt: the branch must not exist) to `target`, atomically;
  // fails if another writer moved it meanwhile.
  Status UpdateRef(const std::string& name, const git_oid& target,
                   const std::optional<git_oid>& expected) const {
    git_reference* raw = nullptr;
    int rc = expected ? git_reference_create_matching(&raw, repo_.get(), name.c_str(), &target,
                                                      /*force=*/1, &*expected, nullptr)
                      : git_reference_create(&raw, repo_.get(), name.c_str(), &target,
                                             /*force=*/0, nullptr);
    ReferencePtr ref(raw);
    return Git(rc, "updating " + name);
  }

 private:
  static Result<Repo> Wrap(RepoPtr repo, const std::filesystem::path& dir) {
    if (!git_repository_is_bare(repo.get())) {
      return Status::InvalidArgument(dir.string() + " is not a bare git repository");
    }
    git_odb* raw = nullptr;
    KH_RETURN_IF_ERROR(Git(git_repository_odb(&raw, repo.get()), "opening the object database"));
    Repo r;
    r.repo_ = std::move(repo);
    r.odb_ = OdbPtr(raw);
    return r;
  }

  RepoPtr repo_;
  OdbPtr odb_;  // holds its own reference to the repository's object database
};

// Entries of a tree by name (the tree handle must outlive the returned pointers).
const git_tree_entry* EntryNamed(const git_tree* tree, const std::string& name) {
  return tree ? git_tree_entry_byname(tree, name.c_str()) : nullptr;
}
bool IsBlobEntry(const git_tree_entry* e) {
  return e && git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
         git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB;
}
bool IsTreeEntry(const git_tree_entry* e) {
  return e && git_tree_entry_type(e) == GIT_OBJECT_TREE &&
         git_tree_entry_filemode(e) == GIT_FILEMODE_TREE;
}
// The subtree `name` of `tree`, or null if there is none (or it is not a tree).
Result<TreePtr> SubTree(const Repo& repo, const git_tree* tree, const std::string& name) {
  const git_tree_entry* e = EntryNamed(tree, name);
  if (!IsTreeEntry(e)) return TreePtr();
  return repo.Tree(*git_tree_entry_id(e));
}

// One commit of a logs branch.
struct ChainLink {
  git_oid commit;
  git_oid tree;
  unsigned parents = 0;
  int64_t committer_time = 0;
};

// The commits from `tip` back along first parents to the root, in record order.
Result<std::vector<ChainLink>> FirstParentChain(const Repo& repo, const git_oid& tip) {
  std::vector<ChainLink> out;
  git_oid cur = tip;
  for (;;) {
    KH_ASSIGN_OR_RETURN(CommitPtr c, repo.Commit(cur));
    ChainLink link;
    link.commit = cur;
    link.tree = *git_commit_tree_id(c.get());
    link.parents = git_commit_parentcount(c.get());
    link.committer_time = git_commit_committer(c.get())->when.time;
    out.push_back(link);
    if (link.parents == 0) break;
    cur = *git_commit_parent_id(c.get(), 0);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// record.bin of a commit, with its decoded record.
struct TipRecord {
  Bytes bytes;
  Result<Record> record = Status::NotFound("not read");
};
Result<TipRecord> ReadRecordOfCommit(const Repo& repo, const git_oid& commit) {
  KH_ASSIGN_OR_RETURN(CommitPtr c, repo.Commit(commit));
  KH_ASSIGN_OR_RETURN(TreePtr tree, repo.Tree(*git_commit_tree_id(c.get())));
  const git_tree_entry* e = EntryNamed(tree.get(), "record.bin");
  if (!IsBlobEntry(e)) return Status::Corruption("commit " + ShortOid(commit) + " has no record.bin");
  TipRecord out;
  KH_ASSIGN_OR_RETURN(out.bytes, repo.SmallBlob(*git_tree_entry_id(e), kMaxRecordFrame));
  out.record = DecodeRecord(out.bytes);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Export

class LogExporter {
 public:
  LogExporter(Store& store, const Repo& repo, const std::map<Hash, Member>& members,
              std::map<Hash, git_oid>& file_blobs, MirrorLogExport& result)
      : store_(store), repo_(repo), members_(members), file_blobs_(file_blobs), result_(result),
        origin_(result.origin) {}

  // Whether the store or the mirror holds anything of this log.
  bool present() const { return present_; }

  Status Run() {
    uint64_t size = 0;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(size, LogSize(txn, origin_));
      return Status::Ok();
    }));
    const std::string ref = LogsRef(origin_);
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> tip, repo_.RefTarget(ref));
    present_ = size > 0 || tip.has_value();
    if (!present_) return Status::Ok();

    uint64_t have = 0;
    Hash prev{};
    if (tip) {
      auto tip_record = ReadRecordOfCommit(repo_, *tip);
      if (!tip_record.ok()) return Different(tip_record.status().message());
      if (!tip_record->record.ok()) {
        return Different("its tip's record.bin does not decode: " +
                         tip_record->record.status().message());
      }
      const Record& rec = *tip_record->record;
      if (rec.origin != origin_) return Different("its tip's record names another origin");
      if (rec.index == UINT64_MAX) return Different("its tip's record index is out of range");
      have = rec.index + 1;
      result_.from = result_.to = have;
      if (rec.index < size) {
        KH_RETURN_IF_ERROR(CompareWithStore(rec.index, tip_record->bytes));
      } else if (size > 0) {
        // The mirror is ahead of this node: check that it continues what is held here.
        git_oid cur = *tip;
        for (uint64_t i = rec.index; i > size - 1; --i) {
          auto c = repo_.Commit(cur);
          if (!c.ok() || git_commit_parentcount(c->get()) == 0) {
            return Different("record " + std::to_string(size - 1) + " cannot be read");
          }
          cur = *git_commit_parent_id(c->get(), 0);
        }
        auto older = ReadRecordOfCommit(repo_, cur);
        if (!older.ok()) return Different(older.status().message());
        KH_RETURN_IF_ERROR(CompareWithStore(size - 1, older->bytes));
      }
      prev = RecordHash(tip_record->bytes);
    }

    std::optional<git_oid> head = tip;
    uint64_t written = 0;
    Status status;
    for (uint64_t i = have; i < size; ++i) {
      auto commit = WriteRecord(i, prev, head);
      if (!commit.ok()) {
        // The branch still moves to the last record written: what verified is mirrored.
        status = commit.status().Annotate("record " + std::to_string(i));
        break;
      }
      head = *commit;
      ++written;
    }
    if (written > 0) {
      KH_RETURN_IF_ERROR(repo_.UpdateRef(ref, *head, tip));
      result_.to = have + written;
    }
    if (!head) return status;
    Status checkpoints = ExportCheckpoints(*head);
    return status.ok() ? checkpoints : status;
  }

 private:
  Status Different(const std::string& why) const {
    return Status::Corruption("the mirror's branch logs/" + ToHex(origin_) +
                              " holds a different log than this node (" + why + ")");
  }

  Status CompareWithStore(uint64_t index, const Bytes& mirror_bytes) const {
    std::optional<Bytes> held;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(held, txn.Get(Table::kRecords, keys::Record(origin_, index)));
      return Status::Ok();
    }));
    if (!held || *held != mirror_bytes) {
      return Different("record " + std::to_string(index) + " differs");
    }
    return Status::Ok();
  }

  // Reads record `index` with its entry and manifests from the store, checking each against
  // the hash that names it (LMDB keeps no checksums: what is exported is verified here).
  Result<git_oid> WriteRecord(uint64_t index, Hash& prev, const std::optional<git_oid>& parent) {
    Bytes record_bytes, entry_bytes;
    std::vector<Bytes> manifest_bytes;
    Record rec;
    Entry entry;
    std::vector<FileManifest> manifests;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto r, txn.Get(Table::kRecords, keys::Record(origin_, index)));
      if (!r) return Status::Corruption("missing from the store");
      record_bytes = std::move(*r);
      KH_ASSIGN_OR_RETURN(rec, DecodeRecord(record_bytes));
      if (rec.origin != origin_ || rec.index != index) {
        return Status::Corruption("the stored record names another origin or index");
      }
      if (rec.prev_record != prev) return Status::Corruption("the stored hash chain is broken");
      KH_ASSIGN_OR_RETURN(auto e, txn.Get(Table::kObjects, rec.entry_id));
      if (!e || ObjectId(*e) != rec.entry_id) {
        return Status::Corruption("entry " + ToHex(rec.entry_id) + " is missing or damaged");
      }
      entry_bytes = std::move(*e);
      KH_ASSIGN_OR_RETURN(entry, DecodeEntry(entry_bytes));
      for (const Hash& mid : entry.manifests) {
        KH_ASSIGN_OR_RETURN(auto m, txn.Get(Table::kObjects, mid));
        if (!m || ObjectId(*m) != mid) {
          return Status::Corruption("manifest " + ToHex(mid) + " is missing or damaged");
        }
        KH_ASSIGN_OR_RETURN(FileManifest fm, DecodeManifest(*m));
        manifests.push_back(std::move(fm));
        manifest_bytes.push_back(std::move(*m));
      }
      return Status::Ok();
    }));

    std::vector<TreeItem> root;
    KH_ASSIGN_OR_RETURN(git_oid record_blob, repo_.WriteBlob(record_bytes));
    root.push_back({"record.bin", record_blob, GIT_FILEMODE_BLOB});
    KH_ASSIGN_OR_RETURN(git_oid entry_blob, repo_.WriteBlob(entry_bytes));
    root.push_back({"entry.bin", entry_blob, GIT_FILEMODE_BLOB});
    KH_ASSIGN_OR_RETURN(std::string json_text, EntryJsonText(entry));
    KH_ASSIGN_OR_RETURN(git_oid json_blob, repo_.WriteBlob(AsBytes(json_text)));
    root.push_back({"entry.json", json_blob, GIT_FILEMODE_BLOB});
    if (!manifests.empty()) {
      std::vector<TreeItem> manifest_items, file_items;
      for (size_t n = 0; n < manifests.size(); ++n) {
        KH_ASSIGN_OR_RETURN(git_oid mb, repo_.WriteBlob(manifest_bytes[n]));
        manifest_items.push_back({std::to_string(n) + ".bin", mb, GIT_FILEMODE_BLOB});
        KH_ASSIGN_OR_RETURN(git_oid fb, WriteFile(manifests[n], entry.manifests[n]));
        file_items.push_back({std::to_string(n) + std::string(FileExtensionFor(manifests[n].media_type)),
                              fb, GIT_FILEMODE_BLOB});
      }
      KH_ASSIGN_OR_RETURN(git_oid mt, repo_.WriteTree(manifest_items));
      root.push_back({"manifests", mt, GIT_FILEMODE_TREE});
      KH_ASSIGN_OR_RETURN(git_oid ft, repo_.WriteTree(file_items));
      root.push_back({"files", ft, GIT_FILEMODE_TREE});
    }
    KH_ASSIGN_OR_RETURN(git_oid tree, repo_.WriteTree(root));
    RecordCommitMeta meta = ExpectedMeta(rec, entry, record_bytes);
    KH_ASSIGN_OR_RETURN(git_oid commit,
                        repo_.WriteCommit(tree, parent, meta.author_name, meta.author_email,
                                          meta.author_time, meta.committer_name,
                                          meta.committer_email, meta.committer_time, meta.message));
    prev = RecordHash(record_bytes);
    return commit;
  }

  // Streams a file from the store's chunks into one blob, one chunk in memory at a time; a file
  // already written in this run (same manifest) is not written again.
  Result<git_oid> WriteFile(const FileManifest& m, const Hash& manifest_id) {
    auto known = file_blobs_.find(manifest_id);
    if (known != file_blobs_.end()) return known->second;
    if (m.chunks.size() != ChunkCount(m.size)) {
      return Status::Corruption("manifest " + ToHex(manifest_id) + " lists the wrong number of chunks");
    }
    KH_ASSIGN_OR_RETURN(OdbStreamPtr stream, repo_.BlobStream(m.size));
    Sha256Stream content;
    for (size_t j = 0; j < m.chunks.size(); ++j) {
      std::optional<Bytes> chunk;
      KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
        KH_ASSIGN_OR_RETURN(chunk, txn.Get(Table::kChunks, m.chunks[j]));
        return Status::Ok();
      }));
      if (!chunk || chunk->size() != ChunkLength(m.size, j) || ChunkId(*chunk) != m.chunks[j]) {
        return Status::Corruption("chunk " + std::to_string(j) + " of file '" + m.name +
                                  "' is missing or damaged in the store");
      }
      content.Update(*chunk);
      KH_RETURN_IF_ERROR(Git(git_odb_stream_write(stream.get(),
                                                  reinterpret_cast<const char*>(chunk->data()),
                                                  chunk->size()),
                             "writing file '" + m.name + "'"));
    }
    if (content.Finish() != m.content_sha256) {
      return Status::Corruption("file '" + m.name + "' does not match its manifest in the store");
    }
    git_oid oid;
    KH_RETURN_IF_ERROR(Git(git_odb_stream_finalize_write(&oid, stream.get()),
                           "writing file '" + m.name + "'"));
    file_blobs_.emplace(manifest_id, oid);
    return oid;
  }

  // The checkpoints branch: the store's notes for this origin merged with the branch's tip.
  Status ExportCheckpoints(const git_oid& log_tip) {
    auto member = members_.find(origin_);
    if (member == members_.end()) return Status::Ok();  // no key to publish
    std::map<uint64_t, std::string> notes;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      std::vector<uint64_t> sizes;
      KH_RETURN_IF_ERROR(txn.Scan(Table::kCheckpoints, origin_,
                                  [&](ByteView key, ByteView) -> Result<bool> {
                                    if (key.size() == 40) sizes.push_back(ReadBigEndian64(key.data() + 32));
                                    return true;
                                  }));
      for (uint64_t s : sizes) {
        KH_ASSIGN_OR_RETURN(notes[s], CheckpointWithCosignatures(txn, origin_, s));
      }
      return Status::Ok();
    }));

    const std::string ref = CheckpointsRef(origin_);
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> old_tip, repo_.RefTarget(ref));
    std::map<std::string, git_oid> note_items, cosigner_items;
    std::optional<git_oid> old_tree;
    if (old_tip) {
      KH_ASSIGN_OR_RETURN(CommitPtr c, repo_.Commit(*old_tip));
      old_tree = *git_commit_tree_id(c.get());
      KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.Tree(*old_tree));
      KH_ASSIGN_OR_RETURN(TreePtr old_notes, SubTree(repo_, tree.get(), std::string(kNotePrefixDir)));
      for (size_t i = 0; old_notes && i < git_tree_entrycount(old_notes.get()); ++i) {
        const git_tree_entry* e = git_tree_entry_byindex(old_notes.get(), i);
        if (IsBlobEntry(e) && ParseNoteFileName(git_tree_entry_name(e))) {
          note_items.emplace(git_tree_entry_name(e), *git_tree_entry_id(e));
        }
      }
      KH_ASSIGN_OR_RETURN(TreePtr old_cosigners, SubTree(repo_, tree.get(), std::string(kCosignersDir)));
      for (size_t i = 0; old_cosigners && i < git_tree_entrycount(old_cosigners.get()); ++i) {
        const git_tree_entry* e = git_tree_entry_byindex(old_cosigners.get(), i);
        if (IsBlobEntry(e) && ParseCosignerFileName(git_tree_entry_name(e))) {
          cosigner_items.emplace(git_tree_entry_name(e), *git_tree_entry_id(e));
        }
      }
    }
    for (const auto& [size, text] : notes) {
      std::string name = NoteFileName(size);
      std::string merged = text;
      auto old = note_items.find(name);
      git_oid same;
      if (old != note_items.end() &&
          git_odb_hash(&same, text.data(), text.size(), GIT_OBJECT_BLOB) == 0 &&
          git_oid_equal(&same, &old->second)) {
        continue;  // the branch already holds exactly this note: neither read nor written
      }
      if (old != note_items.end()) {
        auto old_text = repo_.SmallBlob(old->second, kMaxNoteBytes);
        if (old_text.ok()) merged = MergeNote(text, std::string(AsChars(*old_text)));
      }
      KH_ASSIGN_OR_RETURN(note_items[name], repo_.WriteBlob(AsBytes(merged)));
    }
    for (const auto& [id, m] : members_) {
      if (id == origin_ || m.cosigner_vkey.empty()) continue;
      KH_ASSIGN_OR_RETURN(cosigner_items[ToHex(id) + ".vkey"],
                          repo_.WriteBlob(AsBytes(m.cosigner_vkey + "\n")));
    }
    std::vector<TreeItem> root;
    KH_ASSIGN_OR_RETURN(git_oid vkey, repo_.WriteBlob(AsBytes(member->second.vkey + "\n")));
    root.push_back({"origin.vkey", vkey, GIT_FILEMODE_BLOB});
    for (auto* dir : {&cosigner_items, &note_items}) {
      if (dir->empty()) continue;
      std::vector<TreeItem> items;
      for (const auto& [name, oid] : *dir) items.push_back({name, oid, GIT_FILEMODE_BLOB});
      KH_ASSIGN_OR_RETURN(git_oid sub, repo_.WriteTree(items));
      root.push_back({std::string(dir == &note_items ? kNotePrefixDir : kCosignersDir), sub,
                      GIT_FILEMODE_TREE});
    }
    KH_ASSIGN_OR_RETURN(git_oid tree, repo_.WriteTree(root));
    if (old_tree && git_oid_equal(&tree, &*old_tree)) return Status::Ok();
    KH_ASSIGN_OR_RETURN(CommitPtr log_commit, repo_.Commit(log_tip));
    int64_t when = git_commit_committer(log_commit.get())->when.time;
    const std::string who(kMirrorSignatureName), email(kMirrorSignatureEmail);
    KH_ASSIGN_OR_RETURN(git_oid commit,
                        repo_.WriteCommit(tree, old_tip, who, email, when, who, email, when,
                                          "khronika checkpoints of " + ToHex(origin_) + "\n"));
    KH_RETURN_IF_ERROR(repo_.UpdateRef(ref, commit, old_tip));
    result_.checkpoints_updated = true;
    return Status::Ok();
  }

  Store& store_;
  const Repo& repo_;
  const std::map<Hash, Member>& members_;
  std::map<Hash, git_oid>& file_blobs_;
  MirrorLogExport& result_;
  const Hash origin_;
  bool present_ = false;
};

// ---------------------------------------------------------------------------------------------
// Verification

class LogVerifier {
 public:
  LogVerifier(const Repo& repo, const Hash& origin, const git_oid& tip,
              const std::optional<git_oid>& checkpoints_tip, MirrorVerifyReport& report)
      : repo_(repo), origin_(origin), tip_(tip), checkpoints_tip_(checkpoints_tip),
        report_(report), branch_(ShortBranch("logs", origin)),
        cp_branch_(ShortBranch("checkpoints", origin)) {
    log_.origin = origin;
  }

  void Run() {
    LoadCheckpointTree();
    auto chain = FirstParentChain(repo_, tip_);
    if (!chain.ok()) {
      report_.problems.push_back(branch_ + ": the branch cannot be read back to its first commit: " +
                                 chain.status().message());
    } else {
      log_.records = chain->size();
      verified_ = chain->size();
      for (uint64_t i = 0; i < chain->size(); ++i) {
        if (!CheckRecord(i, (*chain)[i])) {
          verified_ = i;
          break;
        }
      }
    }
    CheckCheckpoints();
    report_.logs.push_back(log_);
  }

 private:
  void Problem(const ChainLink& link, uint64_t index, const std::string& what) {
    report_.problems.push_back(branch_ + ": commit " + ShortOid(link.commit) + " (record " +
                               std::to_string(index) + "): " + what);
  }
  void CheckpointProblem(const std::string& what) {
    report_.problems.push_back(cp_branch_ + ": commit " +
                               (checkpoints_tip_ ? ShortOid(*checkpoints_tip_) : std::string("?")) +
                               ": " + what);
  }

  // Reads the names of the notes first, so that the roots they need are kept while the records
  // are walked.
  void LoadCheckpointTree() {
    if (!checkpoints_tip_) return;
    auto commit = repo_.Commit(*checkpoints_tip_);
    if (!commit.ok()) {
      CheckpointProblem("cannot be read: " + commit.status().message());
      return;
    }
    auto tree = repo_.Tree(*git_commit_tree_id(commit->get()));
    if (!tree.ok()) {
      CheckpointProblem("its tree cannot be read: " + tree.status().message());
      return;
    }
    cp_tree_ = std::move(*tree);
    auto notes = SubTree(repo_, cp_tree_.get(), std::string(kNotePrefixDir));
    if (!notes.ok()) {
      CheckpointProblem("notes/ cannot be read: " + notes.status().message());
      return;
    }
    notes_tree_ = std::move(*notes);
    for (size_t i = 0; notes_tree_ && i < git_tree_entrycount(notes_tree_.get()); ++i) {
      auto size = ParseNoteFileName(git_tree_entry_name(git_tree_entry_byindex(notes_tree_.get(), i)));
      if (size) wanted_roots_[*size] = Hash{};
    }
  }

  bool ReadBlob(const ChainLink& link, uint64_t index, const git_tree* tree,
                const std::string& name, const std::string& path, size_t max_bytes, Bytes& out) {
    const git_tree_entry* e = EntryNamed(tree, name);
    if (!e) {
      Problem(link, index, path + " is missing");
      return false;
    }
    if (!IsBlobEntry(e)) {
      Problem(link, index, path + " is not a regular file (mode 100644)");
      return false;
    }
    auto bytes = repo_.SmallBlob(*git_tree_entry_id(e), max_bytes);
    if (!bytes.ok()) {
      Problem(link, index, path + " cannot be read: " + bytes.status().message());
      return false;
    }
    out = std::move(*bytes);
    return true;
  }

  // Checks one record's commit. Returns false at a broken hash-chain link: nothing after it can
  // be tied to the records before.
  bool CheckRecord(uint64_t i, const ChainLink& link) {
    if (link.parents > 1) {
      Problem(link, i, "the commit has " + std::to_string(link.parents) +
                           " parents; a log branch is one line of commits");
    }
    auto tree_result = repo_.Tree(link.tree);
    if (!tree_result.ok()) {
      Problem(link, i, "the commit's tree cannot be read: " + tree_result.status().message());
      return false;
    }
    TreePtr tree = std::move(*tree_result);

    Bytes record_bytes;
    if (!ReadBlob(link, i, tree.get(), "record.bin", "record.bin", kMaxRecordFrame, record_bytes)) {
      return false;
    }
    auto rec = DecodeRecord(record_bytes);
    if (!rec.ok()) {
      Problem(link, i, "record.bin does not decode: " + rec.status().message());
      return false;
    }
    if (rec->prev_record != prev_hash_) {
      Problem(link, i, i == 0 ? "record.bin: the first record's prev_record is not zero"
                              : "record.bin: prev_record is not the hash of record " +
                                    std::to_string(i - 1) + " (the hash chain is broken here)");
      return false;
    }
    if (rec->origin != origin_) Problem(link, i, "record.bin names another origin than the branch");
    if (rec->index != i) {
      Problem(link, i, "record.bin says index " + std::to_string(rec->index) +
                           " but is commit number " + std::to_string(i) + " of the branch");
    }
    Hash record_hash = RecordHash(record_bytes);
    prev_hash_ = record_hash;
    range_.Append(LeafHash(record_bytes));
    auto wanted = wanted_roots_.find(i + 1);
    if (wanted != wanted_roots_.end()) wanted->second = range_.Root();

    std::set<std::string> expected = {"record.bin", "entry.bin", "entry.json"};
    CheckEntry(i, link, tree.get(), *rec, record_bytes, record_hash, expected);
    for (size_t k = 0; k < git_tree_entrycount(tree.get()); ++k) {
      std::string name = git_tree_entry_name(git_tree_entry_byindex(tree.get(), k));
      if (!expected.count(name)) Problem(link, i, "unexpected tree entry '" + name + "'");
    }
    return true;
  }

  void CheckEntry(uint64_t i, const ChainLink& link, const git_tree* tree, const Record& rec,
                  const Bytes& record_bytes, const Hash& record_hash,
                  std::set<std::string>& expected) {
    Bytes entry_bytes;
    if (!ReadBlob(link, i, tree, "entry.bin", "entry.bin", kMaxEntryFrame, entry_bytes)) {
      case_chain_known_ = false;
      return;
    }
    if (ObjectId(entry_bytes) != rec.entry_id) {
      Problem(link, i, "entry.bin does not match the record's entry_id (its SHA-256 differs)");
      case_chain_known_ = false;
      return;
    }
    auto entry = DecodeEntry(entry_bytes);
    if (!entry.ok()) {
      Problem(link, i, "entry.bin does not decode: " + entry.status().message());
      case_chain_known_ = false;
      return;
    }
    if (!VerifyEntrySignature(*entry)) {
      Problem(link, i, "entry.bin: the author's signature does not verify");
    }
    if (!entry_ids_.insert(rec.entry_id).second) {
      Problem(link, i, "entry.bin: this entry is already logged at an earlier index of the log");
    }
    Bytes json_bytes;
    if (ReadBlob(link, i, tree, "entry.json", "entry.json", kMaxEntryFrame * 8, json_bytes)) {
      auto want = EntryJsonText(*entry);
      if (!want.ok() || AsChars(json_bytes) != *want) {
        Problem(link, i, "entry.json is not the JSON view of entry.bin");
      }
    }
    CheckCommitMeta(i, link, rec, *entry, record_bytes, record_hash);
    if (case_chain_known_) {
      auto tip = case_tips_.find(entry->case_id);
      Hash want = tip == case_tips_.end() ? Hash{} : tip->second;
      if (rec.prev_case_record != want) {
        Problem(link, i, "record.bin: prev_case_record is not the hash of the previous record of "
                         "case '" + entry->case_id + "' in this log (the case chain is broken)");
      }
    }
    case_tips_[entry->case_id] = record_hash;
    if (!entry->manifests.empty()) {
      expected.insert("manifests");
      expected.insert("files");
      CheckFiles(i, link, tree, *entry);
    }
  }

  void CheckCommitMeta(uint64_t i, const ChainLink& link, const Record& rec, const Entry& entry,
                       const Bytes& record_bytes, const Hash& record_hash) {
    auto commit = repo_.Commit(link.commit);
    if (!commit.ok()) return;  // read once already by the walk
    RecordCommitMeta want = ExpectedMeta(rec, entry, record_bytes);
    const git_signature* author = git_commit_author(commit->get());
    const git_signature* committer = git_commit_committer(commit->get());
    auto same = [](const git_signature* s, const std::string& name, const std::string& email,
                   int64_t time) {
      return s && name == s->name && email == s->email && s->when.time == time && s->when.offset == 0;
    };
    if (!same(author, want.author_name, want.author_email, want.author_time)) {
      Problem(link, i, "the commit's author is not the entry's author and time (entry.bin)");
    }
    if (!same(committer, want.committer_name, want.committer_email, want.committer_time)) {
      Problem(link, i, "the commit's committer is not the origin and receipt time (record.bin)");
    }
    const char* message = git_commit_message_raw(commit->get());
    if (!message || want.message != message) {
      std::string m = message ? message : "";
      if (m.find("record-hash: " + ToHex(record_hash) + "\n") == std::string::npos) {
        Problem(link, i, "record.bin does not match the record-hash in the commit message");
      } else {
        Problem(link, i, "the commit message is not the one the layout gives this record");
      }
    }
  }

  void CheckFiles(uint64_t i, const ChainLink& link, const git_tree* tree, const Entry& entry) {
    auto manifests = SubTree(repo_, tree, "manifests");
    auto files = SubTree(repo_, tree, "files");
    if (!manifests.ok() || !*manifests) {
      Problem(link, i, "manifests/ is missing or is not a directory");
      return;
    }
    if (!files.ok() || !*files) {
      Problem(link, i, "files/ is missing or is not a directory");
      return;
    }
    std::set<std::string> manifest_names, file_names, names;
    for (size_t n = 0; n < entry.manifests.size(); ++n) {
      std::string mname = std::to_string(n) + ".bin";
      std::string mpath = "manifests/" + mname;
      manifest_names.insert(mname);
      Bytes mb;
      if (!ReadBlob(link, i, manifests->get(), mname, mpath, kMaxObjectBytes, mb)) continue;
      if (ObjectId(mb) != entry.manifests[n]) {
        Problem(link, i, mpath + " does not match the entry's manifest id number " + std::to_string(n));
        continue;
      }
      auto m = DecodeManifest(mb);
      if (!m.ok()) {
        Problem(link, i, mpath + " does not decode: " + m.status().message());
        continue;
      }
      if (!names.insert(m->name).second) {
        Problem(link, i, mpath + ": another file of the entry has the same name");
      }
      std::string fname = std::to_string(n) + std::string(FileExtensionFor(m->media_type));
      file_names.insert(fname);
      std::string fpath = "files/" + fname;
      const git_tree_entry* fe = EntryNamed(files->get(), fname);
      if (!fe) {
        Problem(link, i, fpath + " is missing");
        continue;
      }
      if (!IsBlobEntry(fe)) {
        Problem(link, i, fpath + " is not a regular file (mode 100644)");
        continue;
      }
      CheckFile(i, link, *git_tree_entry_id(fe), *m, entry.manifests[n], fpath);
    }
    for (const auto& [sub, allowed, dir] :
         {std::tuple{manifests->get(), &manifest_names, "manifests/"},
          std::tuple{files->get(), &file_names, "files/"}}) {
      for (size_t k = 0; k < git_tree_entrycount(sub); ++k) {
        std::string name = git_tree_entry_name(git_tree_entry_byindex(sub, k));
        if (!allowed->count(name)) Problem(link, i, std::string("unexpected tree entry '") + dir + name + "'");
      }
    }
  }

  // The whole file is read into memory (libgit2 reads blobs whole); its size is checked first.
  void CheckFile(uint64_t i, const ChainLink& link, const git_oid& blob_oid, const FileManifest& m,
                 const Hash& manifest_id, const std::string& path) {
    auto key = std::make_pair(OidHex(blob_oid), manifest_id);
    if (checked_files_.count(key)) return;
    auto size = repo_.BlobSize(blob_oid);
    if (!size.ok()) {
      Problem(link, i, path + " cannot be read: " + size.status().message());
      return;
    }
    if (*size != m.size) {
      Problem(link, i, path + " has " + std::to_string(*size) + " bytes but its manifest says " +
                           std::to_string(m.size));
      return;
    }
    auto blob = repo_.Blob(blob_oid);
    if (!blob.ok()) {
      Problem(link, i, path + " cannot be read: " + blob.status().message());
      return;
    }
    ByteView data(static_cast<const uint8_t*>(git_blob_rawcontent(blob->get())),
                  static_cast<size_t>(git_blob_rawsize(blob->get())));
    if (Sha256(data) != m.content_sha256) {
      Problem(link, i, path + " does not match its manifest's sha256");
      return;
    }
    if (m.chunks.size() != ChunkCount(m.size)) {
      Problem(link, i, path + ": its manifest lists the wrong number of chunks");
      return;
    }
    for (uint64_t j = 0; j < m.chunks.size(); ++j) {
      ByteView slice = data.subspan(j * kChunkSize, ChunkLength(m.size, j));
      if (ChunkId(slice) != m.chunks[j]) {
        Problem(link, i, path + ": chunk " + std::to_string(j) + " does not match its manifest");
        return;
      }
    }
    checked_files_.insert(key);
  }

  void CheckCheckpoints() {
    if (!checkpoints_tip_) {
      report_.warnings.push_back(cp_branch_ + ": missing: no signed checkpoint vouches for the " +
                                 std::to_string(log_.records) + " records of " + branch_);
      return;
    }
    if (!cp_tree_) return;  // reported by LoadCheckpointTree
    std::set<std::string> expected = {"origin.vkey", "notes", "cosigners"};
    for (size_t k = 0; k < git_tree_entrycount(cp_tree_.get()); ++k) {
      std::string name = git_tree_entry_name(git_tree_entry_byindex(cp_tree_.get(), k));
      if (!expected.count(name)) CheckpointProblem("unexpected tree entry '" + name + "'");
    }
    auto origin_key = ReadOriginKey();
    if (!origin_key) return;
    std::vector<std::pair<Hash, NoteVerifier>> cosigners = ReadCosigners();

    std::vector<uint64_t> not_checked;
    std::set<Hash> witnesses;
    for (size_t k = 0; notes_tree_ && k < git_tree_entrycount(notes_tree_.get()); ++k) {
      const git_tree_entry* e = git_tree_entry_byindex(notes_tree_.get(), k);
      std::string name = git_tree_entry_name(e);
      std::string path = "notes/" + name;
      auto size = ParseNoteFileName(name);
      if (!size || !IsBlobEntry(e)) {
        CheckpointProblem("unexpected tree entry '" + path + "'");
        continue;
      }
      auto text = repo_.SmallBlob(*git_tree_entry_id(e), kMaxNoteBytes);
      if (!text.ok()) {
        CheckpointProblem(path + " cannot be read: " + text.status().message());
        continue;
      }
      auto note = ParseSignedNote(AsChars(*text));
      if (!note.ok()) {
        CheckpointProblem(path + " is not a signed note: " + note.status().message());
        continue;
      }
      if (!NoteSignedBy(*note, *origin_key)) {
        CheckpointProblem(path + " is not signed by the origin's key (origin.vkey)");
        continue;
      }
      auto cp = ParseCheckpointBody(note->text);
      if (!cp.ok()) {
        CheckpointProblem(path + " is not a checkpoint: " + cp.status().message());
        continue;
      }
      if (cp->origin != OriginName(origin_)) {
        CheckpointProblem(path + " is a checkpoint of another log (" + cp->origin + ")");
        continue;
      }
      if (cp->size != *size) {
        CheckpointProblem(path + " holds a checkpoint at size " + std::to_string(cp->size));
        continue;
      }
      if (*size > log_.records) {
        report_.warnings.push_back(cp_branch_ + ": " + path + ": checkpoint at size " +
                                   std::to_string(*size) + " is ahead of the mirror's records (" +
                                   std::to_string(log_.records) + ")");
        continue;
      }
      if (*size > verified_) {
        not_checked.push_back(*size);
        continue;
      }
      Hash root = *size == 0 ? MerkleEmptyRoot() : wanted_roots_[*size];
      bool root_ok = cp->root == root;
      if (!root_ok) {
        CheckpointProblem(path + ": the signed root is not the Merkle root of the first " +
                          std::to_string(*size) + " records of " + branch_);
      } else {
        log_.checkpoints += 1;
        log_.largest_verified = std::max(log_.largest_verified, *size);
      }
      for (const NoteSignatureLine& line : note->signatures) {
        for (const auto& [member, verifier] : cosigners) {
          if (line.name != verifier.name) continue;
          if (!VerifyCosignature(note->text, line, verifier)) {
            CheckpointProblem(path + ": the cosignature of " + line.name + " does not verify "
                              "under cosigners/" + ToHex(member) + ".vkey");
          } else if (root_ok) {
            witnesses.insert(member);
          }
        }
      }
    }
    log_.cosigners = witnesses.size();
    if (!not_checked.empty()) {
      report_.warnings.push_back(cp_branch_ + ": " + std::to_string(not_checked.size()) +
                                 " notes not checked: the records stop verifying at record " +
                                 std::to_string(verified_));
    }
    if (log_.checkpoints == 0 || (log_.largest_verified == 0 && log_.records > 0)) {
      report_.warnings.push_back(cp_branch_ + ": no signed checkpoint that verifies covers the " +
                                 std::to_string(log_.records) + " records of " + branch_);
    } else if (log_.largest_verified < log_.records) {
      report_.warnings.push_back(branch_ + ": records " + std::to_string(log_.largest_verified) +
                                 " to " + std::to_string(log_.records - 1) +
                                 " are not yet covered by a signed checkpoint");
    }
  }

  std::optional<NoteVerifier> ReadOriginKey() {
    const git_tree_entry* e = EntryNamed(cp_tree_.get(), "origin.vkey");
    if (!IsBlobEntry(e)) {
      CheckpointProblem("origin.vkey is missing: the notes cannot be verified");
      return std::nullopt;
    }
    auto text = repo_.SmallBlob(*git_tree_entry_id(e), 4096);
    if (!text.ok()) {
      CheckpointProblem("origin.vkey cannot be read: " + text.status().message());
      return std::nullopt;
    }
    std::string_view t = AsChars(*text);
    if (t.empty() || t.back() != '\n') {
      CheckpointProblem("origin.vkey does not end with a newline");
      return std::nullopt;
    }
    auto v = ParseVerifierKey(t.substr(0, t.size() - 1));
    if (!v.ok()) {
      CheckpointProblem("origin.vkey is not a verifier key: " + v.status().message());
      return std::nullopt;
    }
    if (NodeIdFromPublicKey(v->key) != origin_ || v->name != OriginName(origin_)) {
      CheckpointProblem("origin.vkey is not the key of this origin (its SHA-256 is not the node id)");
      return std::nullopt;
    }
    return *v;
  }

  std::vector<std::pair<Hash, NoteVerifier>> ReadCosigners() {
    std::vector<std::pair<Hash, NoteVerifier>> out;
    auto dir = SubTree(repo_, cp_tree_.get(), std::string(kCosignersDir));
    if (!dir.ok()) {
      CheckpointProblem("cosigners/ cannot be read: " + dir.status().message());
      return out;
    }
    for (size_t k = 0; *dir && k < git_tree_entrycount(dir->get()); ++k) {
      const git_tree_entry* e = git_tree_entry_byindex(dir->get(), k);
      std::string path = "cosigners/" + std::string(git_tree_entry_name(e));
      auto member = ParseCosignerFileName(git_tree_entry_name(e));
      if (!member || !IsBlobEntry(e)) {
        CheckpointProblem("unexpected tree entry '" + path + "'");
        continue;
      }
      auto text = repo_.SmallBlob(*git_tree_entry_id(e), 4096);
      std::string_view t = text.ok() ? AsChars(*text) : std::string_view();
      if (!text.ok() || t.empty() || t.back() != '\n') {
        CheckpointProblem(path + " cannot be read or does not end with a newline");
        continue;
      }
      auto v = ParseCosignerVerifierKey(t.substr(0, t.size() - 1));
      if (!v.ok() || v->name != WitnessName(*member)) {
        CheckpointProblem(path + " is not the witness key of member " + ToHex(*member));
        continue;
      }
      out.emplace_back(*member, *v);
    }
    return out;
  }

  const Repo& repo_;
  const Hash origin_;
  const git_oid tip_;
  const std::optional<git_oid> checkpoints_tip_;
  MirrorVerifyReport& report_;
  const std::string branch_, cp_branch_;
  MirrorLogReport log_;
  TreePtr cp_tree_, notes_tree_;
  std::map<uint64_t, Hash> wanted_roots_;  // note sizes -> root computed at that size
  CompactRange range_;
  Hash prev_hash_{};
  uint64_t verified_ = 0;  // records before the first broken hash-chain link
  bool case_chain_known_ = true;  // false once an entry (and so its case) cannot be read
  std::map<std::string, Hash> case_tips_;
  std::set<Hash> entry_ids_;
  std::set<std::pair<std::string, Hash>> checked_files_;  // (blob, manifest) already hashed
};

// ---------------------------------------------------------------------------------------------
// The mirror as a peer

class MirrorTransport : public PeerTransport {
 public:
  explicit MirrorTransport(Repo repo) : repo_(std::move(repo)) {}

  Result<std::vector<Head>> Heads() override {
    KH_ASSIGN_OR_RETURN(auto branches, repo_.Branches(kMirrorLogsPrefix));
    std::vector<Head> heads;
    for (const auto& [name, tip] : branches) {
      auto origin = ParseHashHex(name);
      if (!origin.ok()) continue;
      auto log = Log(*origin);
      if (!log.ok()) continue;  // unreadable: `khronika mirror verify` names the damage
      auto head = BestNote(*origin, (*log)->chain.size());
      if (head.ok() && *head) heads.push_back(std::move(**head));
    }
    return heads;
  }

  Result<std::vector<Hash>> ConsistencyProof(const Hash& origin, uint64_t from,
                                             uint64_t to) override {
    KH_ASSIGN_OR_RETURN(LogState * log, Log(origin));
    if (from > to || to > log->chain.size()) {
      return Status::InvalidArgument("the mirror holds " + std::to_string(log->chain.size()) +
                                     " records of " + ToHex(origin));
    }
    if (log->levels.empty()) KH_RETURN_IF_ERROR(BuildLevels(*log));
    SubtreeFn subtree = [log](unsigned level, uint64_t index) -> Result<Hash> {
      if (level >= log->levels.size() || index >= log->levels[level].size()) {
        return Status::NotFound("no such subtree in the mirror");
      }
      return log->levels[level][index];
    };
    return khronika::ConsistencyProof(from, to, subtree);
  }

  // Frames exactly as BuildPack writes them, from the mirror's blobs.
  Result<Bytes> Pack(const Hash& origin, uint64_t from, uint64_t to) override {
    KH_ASSIGN_OR_RETURN(LogState * log, Log(origin));
    if (from > to || to > log->chain.size()) {
      return Status::NotFound("the mirror holds " + std::to_string(log->chain.size()) +
                              " records of " + ToHex(origin));
    }
    Bytes out;
    for (uint64_t i = from; i < to; ++i) {
      if (i > from && (i - from >= kMaxPackRecords || out.size() >= kMaxPackBytes)) break;
      const ChainLink& link = log->chain[i];
      std::string where = "record " + std::to_string(i) + " (commit " + ShortOid(link.commit) + ")";
      KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.Tree(link.tree));
      KH_ASSIGN_OR_RETURN(Bytes record, TreeBlob(tree.get(), "record.bin", kMaxRecordFrame, where));
      KH_ASSIGN_OR_RETURN(Bytes entry_bytes, TreeBlob(tree.get(), "entry.bin", kMaxEntryFrame, where));
      auto entry = DecodeEntry(entry_bytes);
      if (!entry.ok()) return entry.status().Annotate(where + ": entry.bin");
      AppendFrame(out, kFrameRecord, record);
      AppendFrame(out, kFrameEntry, entry_bytes);
      if (entry->manifests.empty()) continue;
      KH_ASSIGN_OR_RETURN(TreePtr manifests, SubTree(repo_, tree.get(), "manifests"));
      if (!manifests) return Status::Corruption(where + ": manifests/ is missing");
      for (size_t n = 0; n < entry->manifests.size(); ++n) {
        KH_ASSIGN_OR_RETURN(Bytes m, TreeBlob(manifests.get(), std::to_string(n) + ".bin",
                                              kMaxManifestFrame, where + ": manifests/"));
        AppendFrame(out, kFrameManifest, m);
      }
    }
    AppendFrame(out, kFrameEnd, {});
    return out;
  }

  Result<Bytes> Chunks(const std::vector<Hash>& ids) override {
    if (ids.size() > kMaxChunksPerRequest) return Status::InvalidArgument("too many chunks asked for");
    if (!chunk_index_) KH_RETURN_IF_ERROR(BuildChunkIndex());
    Bytes out;
    for (const Hash& id : ids) {
      auto it = chunk_index_->find(id);
      if (it == chunk_index_->end()) return Status::NotFound("chunk " + ToHex(id) + " is not in the mirror");
      const ChunkLocation& loc = it->second;
      KH_ASSIGN_OR_RETURN(ByteView data, FileBlob(loc.blob, loc.file_size));
      ByteView slice = data.subspan(loc.index * kChunkSize, ChunkLength(loc.file_size, loc.index));
      if (ChunkId(slice) != id) {
        return Status::Corruption("chunk " + std::to_string(loc.index) + " of blob " +
                                  ShortOid(loc.blob) + " does not match its id");
      }
      Bytes payload(id.begin(), id.end());
      payload.insert(payload.end(), slice.begin(), slice.end());
      AppendFrame(out, kFrameChunk, payload);
    }
    AppendFrame(out, kFrameEnd, {});
    return out;
  }

 private:
  struct LogState {
    std::vector<ChainLink> chain;
    std::vector<std::vector<Hash>> levels;  // levels[0]: leaf hashes; built on first use
  };
  struct ChunkLocation {
    git_oid blob;
    uint64_t index = 0;
    uint64_t file_size = 0;
  };

  Result<LogState*> Log(const Hash& origin) {
    auto it = logs_.find(origin);
    if (it != logs_.end()) return &it->second;
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> tip, repo_.RefTarget(LogsRef(origin)));
    if (!tip) return Status::NotFound("the mirror holds no log of " + ToHex(origin));
    LogState state;
    KH_ASSIGN_OR_RETURN(state.chain, FirstParentChain(repo_, *tip));
    return &logs_.emplace(origin, std::move(state)).first->second;
  }

  Result<Bytes> TreeBlob(const git_tree* tree, const std::string& name, size_t max_bytes,
                         const std::string& where) {
    const git_tree_entry* e = EntryNamed(tree, name);
    if (!IsBlobEntry(e)) return Status::Corruption(where + ": " + name + " is missing");
    auto bytes = repo_.SmallBlob(*git_tree_entry_id(e), max_bytes);
    if (!bytes.ok()) return bytes.status().Annotate(where + ": " + name);
    return bytes;
  }

  // The largest usable note at most `records` in size.
  Result<std::optional<Head>> BestNote(const Hash& origin, uint64_t records) {
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> tip, repo_.RefTarget(CheckpointsRef(origin)));
    if (!tip) return std::optional<Head>();
    KH_ASSIGN_OR_RETURN(CommitPtr commit, repo_.Commit(*tip));
    KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.Tree(*git_commit_tree_id(commit.get())));
    KH_ASSIGN_OR_RETURN(TreePtr notes, SubTree(repo_, tree.get(), std::string(kNotePrefixDir)));
    if (!notes) return std::optional<Head>();
    std::map<uint64_t, git_oid, std::greater<>> candidates;
    for (size_t k = 0; k < git_tree_entrycount(notes.get()); ++k) {
      const git_tree_entry* e = git_tree_entry_byindex(notes.get(), k);
      auto size = ParseNoteFileName(git_tree_entry_name(e));
      if (size && *size <= records && IsBlobEntry(e)) candidates.emplace(*size, *git_tree_entry_id(e));
    }
    for (const auto& [size, oid] : candidates) {
      auto text = repo_.SmallBlob(oid, kMaxNoteBytes);
      if (!text.ok()) continue;
      auto note = ParseSignedNote(AsChars(*text));
      if (!note.ok()) continue;
      auto cp = ParseCheckpointBody(note->text);
      if (!cp.ok() || cp->size != size || cp->origin != OriginName(origin)) continue;
      Head h;
      h.origin = origin;
      h.size = size;
      h.checkpoint.assign(AsChars(*text));
      return std::optional<Head>(std::move(h));
    }
    return std::optional<Head>();
  }

  Status BuildLevels(LogState& log) {
    std::vector<Hash> leaves;
    leaves.reserve(log.chain.size());
    for (uint64_t i = 0; i < log.chain.size(); ++i) {
      std::string where = "record " + std::to_string(i);
      KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.Tree(log.chain[i].tree));
      KH_ASSIGN_OR_RETURN(Bytes record, TreeBlob(tree.get(), "record.bin", kMaxRecordFrame, where));
      leaves.push_back(LeafHash(record));
    }
    log.levels.push_back(std::move(leaves));
    while (log.levels.back().size() >= 2) {
      const std::vector<Hash>& below = log.levels.back();
      std::vector<Hash> up;
      up.reserve(below.size() / 2);
      for (size_t j = 0; j + 1 < below.size(); j += 2) up.push_back(HashChildren(below[j], below[j + 1]));
      log.levels.push_back(std::move(up));
    }
    return Status::Ok();
  }

  // Where each chunk id of every file in the mirror can be read; entries or manifests that do
  // not decode are passed over (an import checks every byte it is given anyway).
  Status BuildChunkIndex() {
    std::map<Hash, ChunkLocation> index;
    KH_ASSIGN_OR_RETURN(auto branches, repo_.Branches(kMirrorLogsPrefix));
    for (const auto& [name, tip] : branches) {
      auto origin = ParseHashHex(name);
      if (!origin.ok()) continue;
      auto log = Log(*origin);
      if (!log.ok()) continue;
      for (const ChainLink& link : (*log)->chain) {
        KH_ASSIGN_OR_RETURN(TreePtr tree, repo_.Tree(link.tree));
        auto entry_bytes = TreeBlob(tree.get(), "entry.bin", kMaxEntryFrame, "");
        if (!entry_bytes.ok()) continue;
        auto entry = DecodeEntry(*entry_bytes);
        if (!entry.ok() || entry->manifests.empty()) continue;
        KH_ASSIGN_OR_RETURN(TreePtr manifests, SubTree(repo_, tree.get(), "manifests"));
        KH_ASSIGN_OR_RETURN(TreePtr files, SubTree(repo_, tree.get(), "files"));
        if (!manifests || !files) continue;
        for (size_t n = 0; n < entry->manifests.size(); ++n) {
          auto mb = TreeBlob(manifests.get(), std::to_string(n) + ".bin", kMaxManifestFrame, "");
          if (!mb.ok()) continue;
          auto m = DecodeManifest(*mb);
          if (!m.ok()) continue;
          const git_tree_entry* fe = EntryNamed(
              files.get(), std::to_string(n) + std::string(FileExtensionFor(m->media_type)));
          if (!IsBlobEntry(fe)) continue;
          for (uint64_t j = 0; j < m->chunks.size(); ++j) {
            index.emplace(m->chunks[j], ChunkLocation{*git_tree_entry_id(fe), j, m->size});
          }
        }
      }
    }
    chunk_index_ = std::move(index);
    return Status::Ok();
  }

  // A file's content, whole (libgit2 has no streaming read); only the last one is kept.
  Result<ByteView> FileBlob(const git_oid& oid, uint64_t size) {
    if (!last_blob_ || !git_oid_equal(&oid, &last_blob_oid_)) {
      last_blob_.reset();
      KH_ASSIGN_OR_RETURN(last_blob_, repo_.Blob(oid));
      last_blob_oid_ = oid;
    }
    if (git_blob_rawsize(last_blob_.get()) != size) {
      return Status::Corruption("blob " + ShortOid(oid) + " does not have its manifest's size");
    }
    return ByteView(static_cast<const uint8_t*>(git_blob_rawcontent(last_blob_.get())),
                    static_cast<size_t>(size));
  }

  Repo repo_;
  std::map<Hash, LogState> logs_;
  std::optional<std::map<Hash, ChunkLocation>> chunk_index_;
  BlobPtr last_blob_;  // declared after repo_, so freed before it
  git_oid last_blob_oid_{};
};

// Mirror branches to push: every logs/ and checkpoints/ branch named by a node id.
Result<std::vector<std::pair<std::string, git_oid>>> MirrorBranches(const Repo& repo) {
  std::vector<std::pair<std::string, git_oid>> out;
  for (std::string_view prefix : {kMirrorLogsPrefix, kMirrorCheckpointsPrefix}) {
    KH_ASSIGN_OR_RETURN(auto branches, repo.Branches(prefix));
    for (const auto& [name, oid] : branches) {
      if (ParseHashHex(name).ok()) out.emplace_back(std::string(prefix) + name, oid);
    }
  }
  return out;
}

Status CheckRemoteUrl(const std::string& url) {
  if (url.empty()) return Status::InvalidArgument("no remote URL given");
  for (char c : url) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return Status::InvalidArgument("the remote URL holds a control character");
    }
  }
  return Status::Ok();
}

// Credentials for git hosts: an ssh key from the running ssh-agent for ssh URLs, or a user name
// and token from KHRONIKA_GIT_USERNAME / KHRONIKA_GIT_TOKEN for https (a token, not a password,
// and never on the command line). Each kind is offered once, so a refusal ends the attempt.
struct CredentialState {
  bool ssh_tried = false;
  bool token_tried = false;
};

int AcquireCredential(git_credential** out, const char* /*url*/, const char* username_from_url,
                      unsigned int allowed, void* payload) {
  auto* state = static_cast<CredentialState*>(payload);
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !state->ssh_tried) {
    state->ssh_tried = true;
    return git_credential_ssh_key_from_agent(out, username_from_url ? username_from_url : "git");
  }
  const char* user = std::getenv("KHRONIKA_GIT_USERNAME");
  const char* token = std::getenv("KHRONIKA_GIT_TOKEN");
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && token && *token && !state->token_tried) {
    state->token_tried = true;
    const char* name = user && *user ? user : (username_from_url ? username_from_url : "khronika");
    return git_credential_userpass_plaintext_new(out, name, token);
  }
  return GIT_PASSTHROUGH;  // nothing (more) to offer: libgit2 reports the authentication failure
}

void UseCredentials(git_remote_callbacks& callbacks, CredentialState& state) {
  callbacks.credentials = AcquireCredential;
  callbacks.payload = &state;
}

// An in-memory remote for `url`, as git_remote_create_anonymous makes, but with the URL used as
// given: no url.*.insteadOf rewriting from git configuration. (That lookup also leaks memory in
// libgit2 1.5's PCRE2 matcher, which the sanitizer build reports.)
Result<RemotePtr> AnonymousRemote(const Repo& repo, const std::string& url) {
  git_remote_create_options options = GIT_REMOTE_CREATE_OPTIONS_INIT;
  options.repository = repo.get();
  options.name = nullptr;
  options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
  git_remote* raw = nullptr;
  KH_RETURN_IF_ERROR(Git(git_remote_create_with_opts(&raw, url.c_str(), &options), "remote " + url));
  return RemotePtr(raw);
}

class StrArray {
 public:
  explicit StrArray(const std::vector<std::string>& items) : items_(items) {
    for (const std::string& s : items_) ptrs_.push_back(const_cast<char*>(s.c_str()));
    array_.strings = ptrs_.data();
    array_.count = ptrs_.size();
  }
  const git_strarray* get() const { return &array_; }

 private:
  std::vector<std::string> items_;
  std::vector<char*> ptrs_;
  git_strarray array_{};
};

}  // namespace

Result<std::vector<MirrorLogExport>> ExportMirror(Store& store, const std::filesystem::path& git_dir) {
  KH_ASSIGN_OR_RETURN(Repo repo, Repo::OpenOrCreate(git_dir));
  KH_ASSIGN_OR_RETURN(std::vector<Member> roster, ListMembers(store));
  std::map<Hash, Member> members;
  for (Member& m : roster) members.emplace(m.node_id, std::move(m));
  std::optional<Bytes> local;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(local, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
    return Status::Ok();
  }));
  std::vector<MirrorLogExport> results;
  std::map<Hash, git_oid> file_blobs;  // manifest id -> blob written in this run
  for (const auto& [origin, member] : members) {
    MirrorLogExport result;
    result.origin = origin;
    LogExporter exporter(store, repo, members, file_blobs, result);
    result.status = exporter.Run();
    if (exporter.present() || !result.status.ok()) results.push_back(std::move(result));
  }
  // So that `git clone` checks out something: HEAD names this node's own log once it exists.
  if (local && local->size() == 32 && git_repository_head_unborn(repo.get()) == 1) {
    Hash own;
    std::copy(local->begin(), local->end(), own.begin());
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> tip, repo.RefTarget(LogsRef(own)));
    if (tip) {
      KH_RETURN_IF_ERROR(Git(git_repository_set_head(repo.get(), LogsRef(own).c_str()),
                             "pointing HEAD at this node's log"));
    }
  }
  return results;
}

Result<MirrorVerifyReport> VerifyMirror(const std::filesystem::path& git_dir) {
  KH_ASSIGN_OR_RETURN(Repo repo, Repo::Open(git_dir));
  KH_ASSIGN_OR_RETURN(auto logs, repo.Branches(kMirrorLogsPrefix));
  KH_ASSIGN_OR_RETURN(auto checkpoints, repo.Branches(kMirrorCheckpointsPrefix));
  MirrorVerifyReport report;
  for (const auto& [name, tip] : logs) {
    auto origin = ParseHashHex(name);
    if (!origin.ok()) {
      report.problems.push_back("logs/" + name + ": the branch name is not a node id (64 lowercase hex)");
      continue;
    }
    auto cp = checkpoints.find(name);
    std::optional<git_oid> cp_tip;
    if (cp != checkpoints.end()) cp_tip = cp->second;
    LogVerifier(repo, *origin, tip, cp_tip, report).Run();
  }
  for (const auto& [name, tip] : checkpoints) {
    if (!logs.count(name)) {
      report.warnings.push_back("checkpoints/" + name + ": there is no logs/" + name + " branch");
    }
  }
  if (logs.empty()) report.warnings.push_back("the mirror holds no logs branch");
  return report;
}

Result<std::unique_ptr<PeerTransport>> OpenMirrorTransport(const std::filesystem::path& git_dir) {
  KH_ASSIGN_OR_RETURN(Repo repo, Repo::Open(git_dir));
  return std::unique_ptr<PeerTransport>(std::make_unique<MirrorTransport>(std::move(repo)));
}

Status PushMirror(const std::filesystem::path& git_dir, const std::string& remote_url) {
  KH_RETURN_IF_ERROR(CheckRemoteUrl(remote_url));
  KH_ASSIGN_OR_RETURN(Repo repo, Repo::Open(git_dir));
  KH_ASSIGN_OR_RETURN(auto branches, MirrorBranches(repo));
  if (branches.empty()) return Status::Ok();
  KH_ASSIGN_OR_RETURN(RemotePtr remote, AnonymousRemote(repo, remote_url));

  // Fast-forward only, checked here first so that a refusal names its branch (libgit2 refuses a
  // non-fast-forward push as a whole, without saying which).
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  CredentialState listing_credentials;
  UseCredentials(callbacks, listing_credentials);
  KH_RETURN_IF_ERROR(Git(git_remote_connect(remote.get(), GIT_DIRECTION_PUSH, &callbacks, nullptr,
                                            nullptr),
                         "connecting to " + remote_url));
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  KH_RETURN_IF_ERROR(Git(git_remote_ls(&heads, &count, remote.get()), "listing " + remote_url));
  std::map<std::string, git_oid> theirs;
  for (size_t i = 0; i < count; ++i) theirs.emplace(heads[i]->name, heads[i]->oid);
  git_remote_disconnect(remote.get());
  git_odb* odb_raw = nullptr;
  KH_RETURN_IF_ERROR(Git(git_repository_odb(&odb_raw, repo.get()), "opening the object database"));
  OdbPtr odb(odb_raw);
  std::vector<std::string> rejected, refspecs;
  for (const auto& [ref, ours] : branches) {
    auto it = theirs.find(ref);
    if (it != theirs.end() && !git_oid_equal(&it->second, &ours)) {
      bool ahead = git_odb_exists(odb.get(), &it->second) &&
                   git_graph_descendant_of(repo.get(), &ours, &it->second) == 1;
      if (!ahead) {
        rejected.push_back(ref);
        continue;
      }
    }
    if (it == theirs.end() || !git_oid_equal(&it->second, &ours)) refspecs.push_back(ref + ":" + ref);
  }
  if (!rejected.empty()) {
    std::string names;
    for (const std::string& r : rejected) names += (names.empty() ? "" : ", ") + r;
    return Status::AlreadyExists("the remote holds another history for " + names +
                                 " (not a fast-forward; fetch it first and compare)");
  }
  if (refspecs.empty()) return Status::Ok();

  struct PushState {
    CredentialState credentials;
    std::vector<std::string> refused;
  } state;
  git_push_options options = GIT_PUSH_OPTIONS_INIT;
  options.callbacks.credentials = [](git_credential** out, const char* url, const char* user,
                                     unsigned int allowed, void* payload) {
    return AcquireCredential(out, url, user, allowed, &static_cast<PushState*>(payload)->credentials);
  };
  options.callbacks.push_update_reference = [](const char* ref, const char* status, void* payload) -> int {
    if (status) static_cast<PushState*>(payload)->refused.push_back(std::string(ref) + ": " + status);
    return 0;
  };
  options.callbacks.payload = &state;
  std::vector<std::string>& refused = state.refused;
  StrArray specs(refspecs);
  KH_RETURN_IF_ERROR(Git(git_remote_push(remote.get(), specs.get(), &options),
                         "pushing to " + remote_url));
  if (!refused.empty()) {
    std::string lines;
    for (const std::string& r : refused) lines += (lines.empty() ? "" : "; ") + r;
    return Status::AlreadyExists("the remote refused " + lines);
  }
  return Status::Ok();
}

Status FetchMirror(const std::filesystem::path& git_dir, const std::string& remote_url) {
  KH_RETURN_IF_ERROR(CheckRemoteUrl(remote_url));
  KH_ASSIGN_OR_RETURN(Repo repo, Repo::OpenOrCreate(git_dir));
  KH_ASSIGN_OR_RETURN(RemotePtr remote, AnonymousRemote(repo, remote_url));
  git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
  CredentialState credentials;
  UseCredentials(options.callbacks, credentials);
  options.update_fetchhead = 0;
  options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  options.prune = GIT_FETCH_NO_PRUNE;
  StrArray specs({"+" + std::string(kMirrorLogsPrefix) + "*:" + std::string(kMirrorLogsPrefix) + "*",
                  "+" + std::string(kMirrorCheckpointsPrefix) + "*:" +
                      std::string(kMirrorCheckpointsPrefix) + "*"});
  return Git(git_remote_fetch(remote.get(), specs.get(), &options, nullptr),
             "fetching from " + remote_url);
}

}  // namespace khronika

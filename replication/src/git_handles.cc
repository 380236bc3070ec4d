#include "git_handles.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace khronika::git {
namespace {

struct LibGit2Runtime {
  LibGit2Runtime() { git_libgit2_init(); }
  ~LibGit2Runtime() { git_libgit2_shutdown(); }
  LibGit2Runtime(const LibGit2Runtime&) = delete;
  LibGit2Runtime& operator=(const LibGit2Runtime&) = delete;
};

Status Failure(int rc, std::string_view what) {
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

// A new repository's directory, mode 0700: libgit2 would make it 0777 less the umask. Missing
// parents are made as `mkdir -p` (and libgit2's own init) would.
Status MakePrivateDirectory(const std::filesystem::path& dir) {
  std::filesystem::path target = dir.has_filename() ? dir : dir.parent_path();  // "a/b/" -> "a/b"
  std::error_code ec;
  if (target.has_parent_path()) {
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return Status::IOError("creating " + target.parent_path().string() + ": " + ec.message());
  }
  if (::mkdir(target.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError("creating " + target.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

void EnsureLibGit2() { static LibGit2Runtime runtime; }

Status Check(int rc, std::string_view what) { return rc < 0 ? Failure(rc, what) : Status::Ok(); }

Status CheckNoControlCharacters(std::string_view value, std::string_view what) {
  if (value.empty()) return Status::InvalidArgument("no " + std::string(what) + " given");
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return Status::InvalidArgument("the " + std::string(what) + " holds a control character");
    }
  }
  return Status::Ok();
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}
std::string ShortOid(const git_oid& oid) { return OidHex(oid).substr(0, 12); }

StrArray::StrArray(std::vector<std::string> items) : items_(std::move(items)) {
  for (std::string& s : items_) ptrs_.push_back(s.data());
  array_.strings = ptrs_.data();
  array_.count = ptrs_.size();
}

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

Result<Repo> Repo::Open(const std::filesystem::path& dir) {
  EnsureLibGit2();
  KH_RETURN_IF_ERROR(CheckNoControlCharacters(dir.string(), "git repository path"));
  git_repository* raw = nullptr;
  int rc = git_repository_open_bare(&raw, dir.c_str());
  if (rc == GIT_ENOTFOUND) {
    return Status::NotFound(dir.string() + " is not a git repository");
  }
  KH_RETURN_IF_ERROR(Check(rc, "opening " + dir.string()));
  return Wrap(RepoPtr(raw), dir);
}

Result<Repo> Repo::OpenOrCreate(const std::filesystem::path& dir) {
  EnsureLibGit2();
  KH_RETURN_IF_ERROR(CheckNoControlCharacters(dir.string(), "git repository path"));
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
  } else {
    KH_RETURN_IF_ERROR(MakePrivateDirectory(dir));
  }
  git_repository* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_repository_init(&raw, dir.c_str(), /*is_bare=*/1),
                           "creating the bare repository " + dir.string()));
  return Wrap(RepoPtr(raw), dir);
}

Result<Repo> Repo::Wrap(RepoPtr repo, const std::filesystem::path& dir) {
  if (!git_repository_is_bare(repo.get())) {
    return Status::InvalidArgument(dir.string() + " is not a bare git repository");
  }
  git_odb* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_repository_odb(&raw, repo.get()), "opening the object database"));
  Repo r;
  r.repo_ = std::move(repo);
  r.odb_ = OdbPtr(raw);
  return r;
}

Result<std::optional<git_oid>> Repo::RefTarget(const std::string& name) const {
  git_oid oid;
  int rc = git_reference_name_to_id(&oid, repo_.get(), name.c_str());
  if (rc == GIT_ENOTFOUND) return std::optional<git_oid>();
  KH_RETURN_IF_ERROR(Check(rc, "reading " + name));
  return std::optional<git_oid>(oid);
}

Result<std::map<std::string, git_oid>> Repo::Branches(std::string_view prefix) const {
  std::map<std::string, git_oid> out;
  git_reference_iterator* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_reference_iterator_new(&raw, repo_.get()), "listing references"));
  RefIterPtr it(raw);
  std::vector<std::string> names;
  for (;;) {
    const char* name = nullptr;
    int rc = git_reference_next_name(&name, it.get());
    if (rc == GIT_ITEROVER) break;
    KH_RETURN_IF_ERROR(Check(rc, "listing references"));
    std::string_view n(name);
    if (n.size() > prefix.size() && n.substr(0, prefix.size()) == prefix) names.emplace_back(n);
  }
  for (const std::string& name : names) {
    KH_ASSIGN_OR_RETURN(std::optional<git_oid> oid, RefTarget(name));
    if (oid) out.emplace(name.substr(prefix.size()), *oid);
  }
  return out;
}

Result<CommitPtr> Repo::Commit(const git_oid& oid) const {
  git_commit* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_commit_lookup(&raw, repo_.get(), &oid), "commit " + ShortOid(oid)));
  return CommitPtr(raw);
}

Result<TreePtr> Repo::Tree(const git_oid& oid) const {
  git_tree* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_tree_lookup(&raw, repo_.get(), &oid), "tree " + ShortOid(oid)));
  return TreePtr(raw);
}

Result<TreePtr> Repo::TreeOfCommit(const git_oid& commit) const {
  KH_ASSIGN_OR_RETURN(CommitPtr c, Commit(commit));
  return Tree(*git_commit_tree_id(c.get()));
}

Result<TreePtr> Repo::SubTree(const git_tree* tree, const std::string& name) const {
  const git_tree_entry* e = EntryNamed(tree, name);
  if (!IsTreeEntry(e)) return TreePtr();
  return Tree(*git_tree_entry_id(e));
}

Result<BlobPtr> Repo::Blob(const git_oid& oid) const {
  git_blob* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_blob_lookup(&raw, repo_.get(), &oid), "blob " + ShortOid(oid)));
  return BlobPtr(raw);
}

Result<uint64_t> Repo::BlobSize(const git_oid& oid) const {
  size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  KH_RETURN_IF_ERROR(Check(git_odb_read_header(&size, &type, odb_.get(), &oid),
                           "object " + ShortOid(oid)));
  if (type != GIT_OBJECT_BLOB) return Status::Corruption("object " + ShortOid(oid) + " is not a blob");
  return uint64_t{size};
}

Result<Bytes> Repo::SmallBlob(const git_oid& oid, size_t max_bytes) const {
  KH_ASSIGN_OR_RETURN(uint64_t size, BlobSize(oid));
  if (size > max_bytes) {
    return Status::Corruption("it has " + std::to_string(size) + " bytes, more than the " +
                              std::to_string(max_bytes) + " allowed");
  }
  KH_ASSIGN_OR_RETURN(BlobPtr blob, Blob(oid));
  const auto* p = static_cast<const uint8_t*>(git_blob_rawcontent(blob.get()));
  return Bytes(p, p + git_blob_rawsize(blob.get()));
}

Result<git_oid> Repo::WriteBlob(ByteView data) const {
  git_oid oid;
  KH_RETURN_IF_ERROR(Check(git_blob_create_from_buffer(&oid, repo_.get(), data.data(), data.size()),
                           "writing a blob"));
  return oid;
}

Result<git_oid> Repo::WriteTree(const std::vector<TreeItem>& items) const {
  git_treebuilder* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_treebuilder_new(&raw, repo_.get(), nullptr), "building a tree"));
  BuilderPtr builder(raw);
  for (const TreeItem& item : items) {
    KH_RETURN_IF_ERROR(Check(git_treebuilder_insert(nullptr, builder.get(), item.name.c_str(),
                                                    &item.oid, item.mode),
                             "adding " + item.name + " to a tree"));
  }
  git_oid oid;
  KH_RETURN_IF_ERROR(Check(git_treebuilder_write(&oid, builder.get()), "writing a tree"));
  return oid;
}

Result<OdbStreamPtr> Repo::BlobStream(uint64_t size) const {
  git_odb_stream* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_odb_open_wstream(&raw, odb_.get(), size, GIT_OBJECT_BLOB),
                           "opening a blob stream"));
  return OdbStreamPtr(raw);
}

Result<git_oid> Repo::WriteCommit(const git_oid& tree_oid, const std::optional<git_oid>& parent,
                                  const Person& author, const Person& committer,
                                  const std::string& message) const {
  git_signature* raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_signature_new(&raw, author.name.c_str(), author.email.c_str(),
                                             author.time, 0),
                           "making the author signature"));
  SignaturePtr author_sig(raw);
  raw = nullptr;
  KH_RETURN_IF_ERROR(Check(git_signature_new(&raw, committer.name.c_str(), committer.email.c_str(),
                                             committer.time, 0),
                           "making the committer signature"));
  SignaturePtr committer_sig(raw);
  KH_ASSIGN_OR_RETURN(TreePtr tree, Tree(tree_oid));
  CommitPtr parent_commit;
  if (parent) {
    KH_ASSIGN_OR_RETURN(parent_commit, Commit(*parent));
  }
  const git_commit* parents[1] = {parent_commit.get()};
  git_oid oid;
  KH_RETURN_IF_ERROR(Check(git_commit_create(&oid, repo_.get(), nullptr, author_sig.get(),
                                             committer_sig.get(), nullptr, message.c_str(),
                                             tree.get(), parent ? 1 : 0, parents),
                           "writing a commit"));
  return oid;
}

Status Repo::UpdateRef(const std::string& name, const git_oid& target,
                       const std::optional<git_oid>& expected) const {
  git_reference* raw = nullptr;
  int rc = expected ? git_reference_create_matching(&raw, repo_.get(), name.c_str(), &target,
                                                    /*force=*/1, &*expected, nullptr)
                    : git_reference_create(&raw, repo_.get(), name.c_str(), &target,
                                           /*force=*/0, nullptr);
  ReferencePtr ref(raw);
  return Check(rc, "updating " + name);
}

}  // namespace khronika::git

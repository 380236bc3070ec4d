// Private to khronika_replication: the one wrapper over libgit2. Every handle is a unique_ptr with
// its git_*_free deleter; every failing call becomes a Status carrying git_error_last()'s message,
// read at once on the same thread (`git::Check`). Nothing here knows the mirror's layout
// (mirror_layout.h does).
#pragma once

#include <git2.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/status.h"

namespace khronika::git {

// libgit2 is initialised once per process, on first use, and shut down at exit. Every entry
// point below that can be the first libgit2 call (Repo::Open, Repo::OpenOrCreate) calls it.
void EnsureLibGit2();

// OK for rc >= 0; else the Status for libgit2's last error, prefixed with `what`. Call it right
// after the libgit2 call, on the same thread, so that git_error_last() is that call's error.
Status Check(int rc, std::string_view what);

// Rejects an empty value or one holding a control character (below 0x20): `what` names it.
Status CheckNoControlCharacters(std::string_view value, std::string_view what);

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
template <typename T, auto Free>
using Handle = std::unique_ptr<T, Deleter<Free>>;
using RepoPtr = Handle<git_repository, &git_repository_free>;
using OdbPtr = Handle<git_odb, &git_odb_free>;
using OdbStreamPtr = Handle<git_odb_stream, &git_odb_stream_free>;
using TreePtr = Handle<git_tree, &git_tree_free>;
using BuilderPtr = Handle<git_treebuilder, &git_treebuilder_free>;
using CommitPtr = Handle<git_commit, &git_commit_free>;
using SignaturePtr = Handle<git_signature, &git_signature_free>;
using RemotePtr = Handle<git_remote, &git_remote_free>;
using RefIterPtr = Handle<git_reference_iterator, &git_reference_iterator_free>;
using ReferencePtr = Handle<git_reference, &git_reference_free>;
using BlobPtr = Handle<git_blob, &git_blob_free>;

std::string OidHex(const git_oid& oid);
std::string ShortOid(const git_oid& oid);  // the first 12 hex digits, as problems name commits

// A git_strarray over copies of `items`, for refspecs.
class StrArray {
 public:
  explicit StrArray(std::vector<std::string> items);
  StrArray(const StrArray&) = delete;
  StrArray& operator=(const StrArray&) = delete;
  const git_strarray* get() const { return &array_; }

 private:
  std::vector<std::string> items_;
  std::vector<char*> ptrs_;
  git_strarray array_{};
};

struct TreeItem {
  std::string name;
  git_oid oid;
  git_filemode_t mode;
};

// A tree's entry `name` (null if none; the tree handle must outlive it), and what it is: a
// regular file (mode 100644) or a directory. Anything else (executable, link, submodule) is
// neither.
const git_tree_entry* EntryNamed(const git_tree* tree, const std::string& name);
bool IsBlobEntry(const git_tree_entry* e);
bool IsTreeEntry(const git_tree_entry* e);

// One open bare repository, with its object database. Move-only; not shared between threads.
class Repo {
 public:
  // An existing bare repository; NotFound if `dir` holds none.
  static Result<Repo> Open(const std::filesystem::path& dir);
  // An existing bare repository, or a new one in a missing or empty directory. A directory this
  // call creates is mode 0700 (missing parents are made as mkdir -p makes them); an existing one
  // keeps its mode. Anything else at `dir` is InvalidArgument.
  static Result<Repo> OpenOrCreate(const std::filesystem::path& dir);

  git_repository* get() const { return repo_.get(); }
  git_odb* odb() const { return odb_.get(); }

  Result<std::optional<git_oid>> RefTarget(const std::string& name) const;
  // Every branch under `prefix` ("refs/heads/logs/"), by the rest of its name.
  Result<std::map<std::string, git_oid>> Branches(std::string_view prefix) const;

  Result<CommitPtr> Commit(const git_oid& oid) const;
  Result<TreePtr> Tree(const git_oid& oid) const;
  Result<TreePtr> TreeOfCommit(const git_oid& commit) const;
  // The subtree `name` of `tree`, or null if there is none (or it is not a directory).
  Result<TreePtr> SubTree(const git_tree* tree, const std::string& name) const;
  Result<BlobPtr> Blob(const git_oid& oid) const;
  // An object's size, checking that it is a blob, without reading its content.
  Result<uint64_t> BlobSize(const git_oid& oid) const;
  // A small blob's bytes, refusing one larger than max_bytes before reading it.
  Result<Bytes> SmallBlob(const git_oid& oid, size_t max_bytes) const;

  Result<git_oid> WriteBlob(ByteView data) const;
  Result<git_oid> WriteTree(const std::vector<TreeItem>& items) const;
  // Opens a blob stream of `size` bytes: the content goes to disk as it comes.
  Result<OdbStreamPtr> BlobStream(uint64_t size) const;

  struct Person {
    std::string name, email;
    int64_t time = 0;  // seconds since the epoch, UTC (offset 0)
  };
  Result<git_oid> WriteCommit(const git_oid& tree, const std::optional<git_oid>& parent,
                              const Person& author, const Person& committer,
                              const std::string& message) const;

  // Moves `name` from `expected` (nullopt: the branch must not exist) to `target`, atomically;
  // fails if another writer moved it meanwhile.
  Status UpdateRef(const std::string& name, const git_oid& target,
                   const std::optional<git_oid>& expected) const;

 private:
  static Result<Repo> Wrap(RepoPtr repo, const std::filesystem::path& dir);

  RepoPtr repo_;
  OdbPtr odb_;  // holds its own reference to the repository's object database
};

}  // namespace khronika::git

// PushMirror and FetchMirror: a mirror's branches to and from another git repository (a path,
// file://, ssh or https), for `mirror push` and the relay of `sync --via-git`.
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "git_handles.h"
#include "khronika/replication/git_mirror.h"
#include "mirror_layout.h"

namespace khronika {
namespace {

using git::Repo;

// What push and fetch carry: the logs/ and checkpoints/ branches, nothing else.
constexpr std::string_view kMirrorPrefixes[] = {kMirrorLogsPrefix, kMirrorCheckpointsPrefix};

// Mirror branches to push: every logs/ and checkpoints/ branch named by a node id.
Result<std::vector<std::pair<std::string, git_oid>>> MirrorBranches(const Repo& repo) {
  std::vector<std::pair<std::string, git_oid>> out;
  for (std::string_view prefix : kMirrorPrefixes) {
    KH_ASSIGN_OR_RETURN(auto branches, repo.Branches(prefix));
    for (const auto& [name, oid] : branches) {
      if (ParseHashHex(name).ok()) out.emplace_back(std::string(prefix) + name, oid);
    }
  }
  return out;
}

std::string Joined(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// Credentials for git hosts: an ssh key from the running ssh-agent for ssh URLs, or a user name
// and token from KHRONIKA_GIT_USERNAME / KHRONIKA_GIT_TOKEN for https (a token, not a password,
// and never on the command line). Each kind is offered once, so a refusal ends the attempt.
// One per connection; a push also collects there the branches the remote refused.
struct RemoteSession {
  bool ssh_tried = false;
  bool token_tried = false;
  std::vector<std::string> refused;  // "<ref>: <why>"
};

int AcquireCredential(git_credential** out, const char* /*url*/, const char* username_from_url,
                      unsigned int allowed, void* payload) {
  auto* state = static_cast<RemoteSession*>(payload);
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

int NoteRefusal(const char* ref, const char* status, void* payload) {
  if (status) static_cast<RemoteSession*>(payload)->refused.push_back(std::string(ref) + ": " + status);
  return 0;
}

void UseSession(git_remote_callbacks& callbacks, RemoteSession& session) {
  callbacks.credentials = AcquireCredential;
  callbacks.push_update_reference = NoteRefusal;
  callbacks.payload = &session;
}

// An in-memory remote for `url`, as git_remote_create_anonymous makes, but with the URL used as
// given: no url.*.insteadOf rewriting from git configuration. (That lookup also leaks memory in
// libgit2 1.5's PCRE2 matcher, which the sanitizer build reports.)
Result<git::RemotePtr> AnonymousRemote(const Repo& repo, const std::string& url) {
  git_remote_create_options options = GIT_REMOTE_CREATE_OPTIONS_INIT;
  options.repository = repo.get();
  options.name = nullptr;
  options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
  git_remote* raw = nullptr;
  KH_RETURN_IF_ERROR(
      git::Check(git_remote_create_with_opts(&raw, url.c_str(), &options), "remote " + url));
  return git::RemotePtr(raw);
}

}  // namespace

Status PushMirror(const std::filesystem::path& git_dir, const std::string& remote_url) {
  KH_RETURN_IF_ERROR(git::CheckNoControlCharacters(remote_url, "remote URL"));
  KH_ASSIGN_OR_RETURN(Repo repo, Repo::Open(git_dir));
  KH_ASSIGN_OR_RETURN(auto branches, MirrorBranches(repo));
  if (branches.empty()) return Status::Ok();
  KH_ASSIGN_OR_RETURN(git::RemotePtr remote, AnonymousRemote(repo, remote_url));

  // Fast-forward only, checked here first so that a refusal names its branch (libgit2 refuses a
  // non-fast-forward push as a whole, without saying which).
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  RemoteSession listing;
  UseSession(callbacks, listing);
  KH_RETURN_IF_ERROR(git::Check(git_remote_connect(remote.get(), GIT_DIRECTION_PUSH, &callbacks,
                                                   nullptr, nullptr),
                                "connecting to " + remote_url));
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  KH_RETURN_IF_ERROR(
      git::Check(git_remote_ls(&heads, &count, remote.get()), "listing " + remote_url));
  std::map<std::string, git_oid> theirs;
  for (size_t i = 0; i < count; ++i) theirs.emplace(heads[i]->name, heads[i]->oid);
  git_remote_disconnect(remote.get());
  std::vector<std::string> rejected, refspecs;
  for (const auto& [ref, ours] : branches) {
    auto it = theirs.find(ref);
    if (it != theirs.end() && !git_oid_equal(&it->second, &ours)) {
      bool ahead = git_odb_exists(repo.odb(), &it->second) &&
                   git_graph_descendant_of(repo.get(), &ours, &it->second) == 1;
      if (!ahead) {
        rejected.push_back(ref);
        continue;
      }
    }
    if (it == theirs.end() || !git_oid_equal(&it->second, &ours)) refspecs.push_back(ref + ":" + ref);
  }
  if (!rejected.empty()) {
    return Status::AlreadyExists("the remote holds another history for " + Joined(rejected, ", ") +
                                 " (not a fast-forward; fetch it first and compare)");
  }
  if (refspecs.empty()) return Status::Ok();

  RemoteSession pushing;
  git_push_options options = GIT_PUSH_OPTIONS_INIT;
  UseSession(options.callbacks, pushing);
  git::StrArray specs(refspecs);
  KH_RETURN_IF_ERROR(git::Check(git_remote_push(remote.get(), specs.get(), &options),
                                "pushing to " + remote_url));
  if (!pushing.refused.empty()) {
    return Status::AlreadyExists("the remote refused " + Joined(pushing.refused, "; "));
  }
  return Status::Ok();
}

Status FetchMirror(const std::filesystem::path& git_dir, const std::string& remote_url) {
  KH_RETURN_IF_ERROR(git::CheckNoControlCharacters(remote_url, "remote URL"));
  KH_ASSIGN_OR_RETURN(mirror::PrivateRepo opened, mirror::OpenPrivateRepo(git_dir));
  KH_ASSIGN_OR_RETURN(git::RemotePtr remote, AnonymousRemote(opened.repo, remote_url));
  git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
  RemoteSession session;
  UseSession(options.callbacks, session);
  options.update_fetchhead = 0;
  options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  options.prune = GIT_FETCH_NO_PRUNE;
  std::vector<std::string> refspecs;  // "+refs/heads/logs/*:refs/heads/logs/*", ...
  for (std::string_view prefix : kMirrorPrefixes) {
    refspecs.push_back("+" + std::string(prefix) + "*:" + std::string(prefix) + "*");
  }
  git::StrArray specs(std::move(refspecs));
  return git::Check(git_remote_fetch(remote.get(), specs.get(), &options, nullptr),
                    "fetching from " + remote_url);
}

}  // namespace khronika

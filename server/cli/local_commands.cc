// Subcommands that work on a local data directory, without a server.
#include <cctype>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "agent.h"
#include "commands.h"
#include "passphrase.h"
#include "khronika/auth/auth.h"
#include "khronika/http/tls.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/proofs.h"
#include "khronika/log/rekey.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/custody.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/seal.h"
#include "khronika/schemas/text.h"
#include "khronika/store/files.h"

namespace khronika::cli {
namespace {

using nlohmann::json;

const OptionSpec kData{"data"};
const OptionSpec kMapSize{"map-size"};
const OptionSpec kJson{"json", false};

Result<StoreOptions> StoreOptionsFrom(const Args& args, bool read_only) {
  StoreOptions o;
  KH_ASSIGN_OR_RETURN(o.map_size, args.GetUnsigned("map-size", o.map_size));
  o.read_only = read_only;
  return o;
}



// Opens a file to seal: a regular file (InvalidArgument for anything else), and its size. With
// `follow_links` false a symbolic link is refused too (O_NOFOLLOW), and O_NONBLOCK keeps a FIFO
// put in a file's place after the walk from blocking the open.
struct SourceFile {
  UniqueFd fd;
  uint64_t size = 0;
};
Result<SourceFile> OpenSource(const std::string& path, bool follow_links) {
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow_links ? 0 : O_NOFOLLOW);
  UniqueFd fd(::open(path.c_str(), flags));
  if (fd.get() < 0 && errno == ELOOP && !follow_links) {
    return Status::InvalidArgument(path + " is a symbolic link");
  }
  if (fd.get() < 0) return ErrnoStatus("open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat " + path);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + " is not a regular file");
  // Reads block again, as for any regular file.
  if (::fcntl(fd.get(), F_SETFL, O_RDONLY) != 0) return ErrnoStatus("fcntl " + path);
  return SourceFile{std::move(fd), static_cast<uint64_t>(st.st_size)};
}

// What every entry of one `add` or `import` says besides its files.
struct EntryFields {
  std::string case_id;
  std::string kind = "evidence";
  std::map<std::string, std::string> metadata;
  std::optional<Hash> corrects;
};

// Seals the files at `paths` straight from disk (each byte read, hashed and sealed once: no
// upload chunks), then has `author` sign the entry over what was read, and checks it as every
// append is checked. On an error (naming the file) nothing of it stays in the store.
Result<CheckedSubmission> SealAndSign(Log& log, const SigningKey& author, const EntryFields& fields,
                                      const std::vector<std::string>& paths, bool follow_links) {
  Submission sub;
  LocalSealing sealing = log.BeginLocal(fields.case_id);
  for (const std::string& path : paths) {
    SubmittedFile f;
    FileDescriptor& d = f.opening.descriptor;
    d.name = std::filesystem::path(path).filename().string();
    Status st = ValidateFileName(d.name).Annotate(path);
    auto source = st.ok() ? OpenSource(path, follow_links) : Result<SourceFile>(st);
    if (source.ok()) {
      const int fd = source->fd.get();
      st = log.SealLocalFile(sealing, source->size, [&](uint8_t* buf, size_t max) {
        return ReadUpTo(fd, buf, max, path);
      }).Annotate(path);
    } else {
      st = source.status();
    }
    if (!st.ok()) {
      (void)log.Discard(sealing);
      return st;
    }
    d.media_type = GuessMediaType(d.name);
    d.size = sealing.files().back().size;
    d.content_sha256 = sealing.files().back().content_sha256;
    RandomBytes(f.opening.salt.data(), f.opening.salt.size());
    sub.entry.files.push_back(FileCommitment(f.opening.salt, Encode(d)));
    sub.files.push_back(std::move(f));
  }
  sub.entry.case_id = fields.case_id;
  sub.entry.author = author.public_key();
  sub.entry.kind = fields.kind;
  sub.entry.metadata = fields.metadata;
  sub.entry.corrects = fields.corrects;
  sub.entry.created_at_ms = SystemClock().NowMs();
  SignEntry(sub.entry, author);
  return log.CheckLocal(std::move(sub), std::move(sealing));
}

Result<SigningKey> LoadAuthorKey(const std::string& path) {
  KH_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(path, 16 * 1024));
  auto key = SigningKey::FromPem(pem);
  if (!key.ok()) return key.status().Annotate(path);
  return key;
}

Result<std::map<std::string, std::string>> ParseMeta(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> out;
  for (const std::string& p : pairs) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError("--meta takes key=value, got '" + p + "'");
    }
    if (!out.emplace(p.substr(0, eq), p.substr(eq + 1)).second) {
      return UsageError("--meta key '" + p.substr(0, eq) + "' given twice");
    }
  }
  KH_RETURN_IF_ERROR(ValidateMetadata(out));
  return out;
}

json HashesJson(const std::vector<Hash>& hashes) {
  json a = json::array();
  for (const Hash& h : hashes) a.push_back(ToHex(h));
  return a;
}

json ReceiptJson(const Receipt& r) {
  return {{"entry_id", ToHex(r.entry_id)},       {"origin", ToHex(r.origin)},
          {"index", r.index},                     {"leaf_hash", ToHex(r.leaf_hash)},
          {"record_hex", ToHex(r.record)},        {"tree_size", r.tree_size},
          {"checkpoint", r.checkpoint},           {"inclusion_proof", HashesJson(r.inclusion_proof)}};
}

Result<Hash> ParseOrigin(const Args& args, const Node& node) {
  auto o = args.Get("origin");
  if (!o) return node.id();
  auto h = ParseHashHex(*o);
  if (!h.ok()) return UsageError("--origin: " + h.status().message());
  return *h;
}

// ---- sealed node keys (key export, init --keys) ----
constexpr std::string_view kSealedBegin = "-----BEGIN KHRONIKA SEALED NODE KEYS-----\n";
constexpr std::string_view kSealedEnd = "-----END KHRONIKA SEALED NODE KEYS-----\n";

struct SealedKeys {
  std::string node_key, cosigner_key, tls_cert, tls_key;  // PEM
  SymmetricKey archive_key{};  // opens everything the node logged
  std::vector<RegisteredAuthor> authors;  // absent from files of an older khronika
  ~SealedKeys() {
    OPENSSL_cleanse(archive_key.data(), archive_key.size());
    OPENSSL_cleanse(node_key.data(), node_key.size());
    OPENSSL_cleanse(cosigner_key.data(), cosigner_key.size());
    OPENSSL_cleanse(tls_key.data(), tls_key.size());
  }
};

// "khronika-node-keys/2" carries the archive key; a /1 file (format 1) has none, and a node
// rebuilt from it could not open a single entry it logged, so it is refused.
constexpr std::string_view kNodeKeysFormat = "khronika-node-keys/2";

Result<SealedKeys> ReadSealedKeys(const Args& args, const std::string& path) {
  KH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, 64 * 1024));
  if (text.rfind(kSealedBegin, 0) != 0 || text.find(kSealedEnd) == std::string::npos) {
    return Status::InvalidArgument(path + " is not a file written by `khronika key export`");
  }
  std::string b64;
  for (char c : text.substr(kSealedBegin.size(), text.find(kSealedEnd) - kSealedBegin.size())) {
    if (c != '\n') b64 += c;
  }
  KH_ASSIGN_OR_RETURN(Bytes sealed, Base64Decode(b64));
  KH_ASSIGN_OR_RETURN(std::string passphrase, ReadPassphrase(args, "passphrase of " + path, false));
  KH_ASSIGN_OR_RETURN(Bytes plain, OpenWithPassphrase(sealed, passphrase));
  json j = json::parse(AsChars(plain), nullptr, false);
  OPENSSL_cleanse(plain.data(), plain.size());
  if (j.is_object() && j.value("format", "") == "khronika-node-keys/1") {
    return Status::InvalidArgument(path + " was written by a khronika of format 1: it holds no "
                                   "archive key, so a node made from it could not open its own "
                                   "evidence; export the keys again with this version");
  }
  if (!j.is_object() || j.value("format", "") != kNodeKeysFormat) {
    return Status::InvalidArgument(path + ": unknown sealed content");
  }
  SealedKeys keys;
  keys.node_key = j.value("node_key", "");
  keys.cosigner_key = j.value("cosigner_key", "");
  keys.tls_cert = j.value("tls_cert", "");
  keys.tls_key = j.value("tls_key", "");
  {
    std::string hex = j.value("archive_key", "");
    auto archive = hex.size() == 64 ? FromHex(hex) : Result<Bytes>(Status::InvalidArgument(""));
    OPENSSL_cleanse(hex.data(), hex.size());
    if (!archive.ok() || archive->size() != keys.archive_key.size()) {
      return Status::InvalidArgument(path + ": its archive key is missing or not 64 hex characters");
    }
    std::copy(archive->begin(), archive->end(), keys.archive_key.begin());
    OPENSSL_cleanse(archive->data(), archive->size());
  }
  if (j.contains("authors")) {
    if (!j["authors"].is_array()) return Status::InvalidArgument(path + ": authors is not a list");
    for (const json& a : j["authors"]) {
      auto key = a.is_object() && a["pubkey"].is_string() ? ParseHashHex(a["pubkey"].get<std::string>())
                                                           : Result<Hash>(Status::InvalidArgument(""));
      if (!key.ok() || !a["name"].is_string()) {
        return Status::InvalidArgument(path + ": an author is not {\"name\", \"pubkey\"}");
      }
      RegisteredAuthor author;
      std::copy(key->begin(), key->end(), author.key.begin());
      author.name = a["name"].get<std::string>();
      author.removed = a.value("removed", false);
      keys.authors.push_back(std::move(author));
    }
  }
  return keys;
}

// The roster of authors as `key export` seals it. Authors registered by an older khronika have
// no key on record (only a blinded index): counted in *unknown, to be added again.
Result<json> AuthorsJson(Store& store, size_t* unknown) {
  KH_ASSIGN_OR_RETURN(std::vector<RegisteredAuthor> authors, ListAuthors(store));
  json out = json::array();
  *unknown = 0;
  for (const RegisteredAuthor& a : authors) {
    if (!a.key_known) {
      ++*unknown;
      continue;
    }
    out.push_back({{"name", a.name}, {"pubkey", ToHex(a.key)}, {"removed", a.removed}});
  }
  return out;
}

Status RunKeyExport(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string out, args.Require("out"));
  if (std::filesystem::exists(out)) return Status::AlreadyExists(out + " already exists: name a new path");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  std::filesystem::path dir = *args.Get("data");
  if (node->cosigner_verifier_key().empty()) {
    return Status::NotFound("this node has no witness key yet: run any command that writes (or serve) once");
  }
  std::string cosigner = node->cosigner_key().ToPem();
  KH_ASSIGN_OR_RETURN(std::string tls_cert, ReadSmallFile(dir / "tls.crt", 16 * 1024));
  KH_ASSIGN_OR_RETURN(std::string tls_key, ReadSmallFile(dir / "tls.key", 16 * 1024));
  size_t unknown_authors = 0;
  KH_ASSIGN_OR_RETURN(json authors, AuthorsJson(node->store(), &unknown_authors));
  KH_ASSIGN_OR_RETURN(std::string passphrase,
                      ReadPassphrase(args, "new passphrase for " + out, /*confirm=*/true));
  std::string archive_hex = ToHex(node->archive_key());
  std::string plain = json{{"format", kNodeKeysFormat},
                           {"authors", authors},
                           {"archive_key", archive_hex},
                           {"node_id", ToHex(node->id())},
                           {"name", node->name()},
                           {"node_key", node->key().ToPem()},
                           {"cosigner_key", cosigner},
                           {"tls_cert", tls_cert},
                           {"tls_key", tls_key}}
                          .dump();
  auto sealed = SealWithPassphrase(AsBytes(plain), passphrase);
  OPENSSL_cleanse(plain.data(), plain.size());
  OPENSSL_cleanse(archive_hex.data(), archive_hex.size());
  OPENSSL_cleanse(passphrase.data(), passphrase.size());
  if (!sealed.ok()) return sealed.status();
  // The keys leave the node: on record before the file is written.
  KH_RETURN_IF_ERROR(RecordOperatorAct(*node, "key-export",
                                       "node, witness and archive keys, sealed under a passphrase"));
  std::string b64 = Base64Encode(*sealed), text(kSealedBegin);
  for (size_t i = 0; i < b64.size(); i += 64) text += b64.substr(i, 64) + "\n";
  text += kSealedEnd;
  KH_RETURN_IF_ERROR(WriteNewFile(out, text, 0600));
  std::cout << "wrote " << out << " (mode 0600): node key, witness key, archive key, TLS "
            << "certificate and "
            << authors.size() << " authors of node " << ToHex(node->id())
            << ", sealed under your passphrase (scrypt, AES-256-GCM)\n";
  if (unknown_authors > 0) {
    std::cerr << "warning: " << unknown_authors << " author(s) registered by an older khronika are "
              << "not in it (their keys were not kept): `khronika author add` them again, then "
                 "export again\n";
  }
  std::cerr << "keep it away from the office, and the passphrase somewhere else; export again "
               "after adding or removing authors. Tokens are not in it: after a raid, create them "
               "again. After a raid:\n"
               "  khronika init --data DIR --name NAME --keys " << out << "\n";
  return Status::Ok();
}

// ---- init ----

// The key file that will seal the keyring of the node in `dir`: refused inside `dir` (it would
// be seized with the data), made (mode 0600) if it does not exist yet; its absolute path.
Result<std::filesystem::path> KeyFileFor(const std::filesystem::path& dir, const std::string& key_file) {
  std::error_code ec;
  auto abs_dir = std::filesystem::weakly_canonical(dir, ec);
  auto abs_key = std::filesystem::weakly_canonical(key_file, ec);
  auto rel = abs_key.lexically_relative(abs_dir);
  if (!rel.empty() && *rel.begin() != "..") {
    return UsageError("the key file must live outside the data directory (ideally off this disk)");
  }
  if (!std::filesystem::exists(key_file)) KH_RETURN_IF_ERROR(CreateKeyFile(key_file));
  return abs_key;
}

Status RunInit(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  std::string name = args.Get("name").value_or("khronika-node");
  NodeInitOptions init;
  KH_ASSIGN_OR_RETURN(init.store, StoreOptionsFrom(args, false));
  if (args.Has("no-encryption") && args.Has("key-file")) {
    return UsageError("give --key-file or --no-encryption, not both");
  }
  // Before any passphrase is asked or key file made (Node::Init checks again).
  if (Node::Exists(dir)) return Status::AlreadyExists("a node already exists in " + dir);
  std::optional<SealedKeys> sealed;
  if (auto keys_path = args.Get("keys")) {
    if (args.Has("node-key")) return UsageError("give --keys or --node-key, not both");
    KH_ASSIGN_OR_RETURN(sealed, ReadSealedKeys(args, *keys_path));
    KH_ASSIGN_OR_RETURN(init.node_key, SigningKey::FromPem(sealed->node_key));
    // The same witness key as before, so partners' rosters stay right.
    KH_ASSIGN_OR_RETURN(init.cosigner_key, SigningKey::FromPem(sealed->cosigner_key));
    // The same archive key, so that the entries pulled back from partners open again.
    init.archive_key = sealed->archive_key;
  }
  if (auto archive_path = args.Get("archive-key")) {
    if (!args.Has("node-key")) return UsageError("--archive-key goes with --node-key");
    auto archive = ReadKeyFile(*archive_path);
    if (!archive.ok()) return archive.status().Annotate(*archive_path);
    init.archive_key = *archive;
    OPENSSL_cleanse(archive->data(), archive->size());
  }
  if (auto key_path = args.Get("node-key")) {
    KH_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(*key_path, 16 * 1024));
    auto key = SigningKey::FromPem(pem);
    if (!key.ok()) return key.status().Annotate(*key_path);
    init.node_key = std::move(key).value();
  }
  bool created_key_file = false;
  if (!args.Has("no-encryption")) {
    if (auto key_file = args.Get("key-file")) {
      created_key_file = !std::filesystem::exists(*key_file);
      KH_ASSIGN_OR_RETURN(std::filesystem::path path, KeyFileFor(dir, *key_file));
      init.seal_with = Unlock{.passphrase = "", .key_file = path};
    } else {
      KH_ASSIGN_OR_RETURN(std::string passphrase,
                          ReadPassphrase(args, "new passphrase for the node in " + dir, /*confirm=*/true));
      init.seal_with = Unlock{.passphrase = std::move(passphrase), .key_file = {}};
    }
  }
  bool restoring = init.node_key.has_value();
  bool new_archive_key = restoring && !init.archive_key;
  auto made = Node::Init(dir, name, std::move(init));
  if (!made.ok()) return made.status();
  std::unique_ptr<Node> node = std::move(made).value();
  std::filesystem::path cert = std::filesystem::path(dir) / "tls.crt";
  if (sealed) {  // the same certificate as before: partners need not pin a new one
    KH_RETURN_IF_ERROR(WriteNewFile(std::filesystem::path(dir) / "tls.key", sealed->tls_key, 0600));
    KH_RETURN_IF_ERROR(WriteNewFile(cert, sealed->tls_cert, 0644));
    KH_RETURN_IF_ERROR(PutAuthors(node->store(), sealed->authors));
  } else {
    KH_RETURN_IF_ERROR(CreateSelfSignedCertificate(cert, std::filesystem::path(dir) / "tls.key"));
  }
  KH_ASSIGN_OR_RETURN(std::string fingerprint, CertificateFingerprint(cert));
  std::cout << "node_id " << ToHex(node->id()) << "\n"
            << "vkey " << node->verifier_key() << "\n"
            << "cert_sha256 " << fingerprint << "\n";
  if (node->encrypted()) {
    std::cerr << "created node '" << name << "' in " << dir << ", encrypted at rest; its keys are "
              << "sealed in " << Node::KeyringPath(dir).string();
    if (auto key_file = args.Get("key-file")) {
      std::cerr << " under the key file " << *key_file << (created_key_file ? " (new, mode 0600)" : "")
                << "\nWARNING: whoever holds that key file can read this node. In real use keep it "
                   "off this machine (a USB stick you take away), or use a passphrase instead "
                   "(`khronika passphrase change`).\n";
    } else {
      std::cerr << " under your passphrase; without it nothing here can be read\n";
    }
  } else {
    std::cerr << "created node '" << name << "' in " << dir << " WITHOUT encryption (key: "
              << Node::KeyPath(dir).string() << ", mode 0600): a seized disk reveals everything\n";
  }
  if (sealed) {
    std::cerr << "registered " << sealed->authors.size() << " author(s) from " << *args.Get("keys")
              << "; tokens are never exported: create new ones (`khronika token create`)\n";
  }
  if (new_archive_key) {
    std::cerr << "warning: no --archive-key: this node has a NEW archive key, so it cannot open "
                 "the entries it logged before (give the old DIR/archive.key with --archive-key, "
                 "or use --keys with a `khronika key export` file)\n";
  }
  if (restoring) {
    std::cerr << "this node took back an earlier identity: add members and peers, then run "
                 "`khronika sync` to pull its own log back from them before serving\n";
  }
  return Status::Ok();
}

// ---- passphrase change ----
Status RunPassphraseChange(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  if (!Node::IsEncrypted(dir)) {
    return Status::InvalidArgument("the node in " + dir + " is not encrypted: nothing to change");
  }
  KH_ASSIGN_OR_RETURN(std::string old_keyring, ReadSmallFile(Node::KeyringPath(dir), 64 * 1024));
  const Hash old_keyring_sha256 = Sha256(old_keyring);
  KH_ASSIGN_OR_RETURN(Unlock current, UnlockFrom(args, dir));
  // The key of the keyring replaced must not outlive it in this shell's unlock agent.
  auto lock_agent = [&] {
    if (LockAgentHolding(old_keyring_sha256)) {
      std::cerr << "locked this shell's unlock agent (it held the key of the keyring replaced): "
                   "`eval \"$(khronika unlock --data DIR)\"` again to keep the node unlocked\n";
    }
  };
  Unlock next;
  if (auto key_file = args.Get("new-key-file")) {
    KH_ASSIGN_OR_RETURN(next.key_file, KeyFileFor(dir, *key_file));
  } else {
    KH_ASSIGN_OR_RETURN(next.passphrase, ReadPassphrase(args, "new passphrase", /*confirm=*/true));
  }
  std::string sealed_under =
      next.key_file.empty() ? "the new passphrase" : "the key file " + next.key_file.string();
  // The change goes into the node's own log as a custody event, opened with the new keyring
  // (a change that cannot be put on record says so and exits non-zero).
  auto put_on_record = [&](const std::string& object) -> Status {
    KH_ASSIGN_OR_RETURN(StoreOptions options, StoreOptionsFrom(args, false));
    auto node = Node::Open(dir, options, next);
    OPENSSL_cleanse(next.passphrase.data(), next.passphrase.size());
    Status st = node.ok() ? RecordOperatorAct(**node, "passphrase-change", object) : node.status();
    if (!st.ok()) {
      return st.Annotate("the keyring was changed, but the change could not be put on record in "
                         "the custody log");
    }
    return Status::Ok();
  };
  if (!args.Has("rotate-data-key")) {
    Status st = Node::ChangeUnlock(dir, current, next);
    OPENSSL_cleanse(current.passphrase.data(), current.passphrase.size());
    if (!st.ok()) OPENSSL_cleanse(next.passphrase.data(), next.passphrase.size());
    KH_RETURN_IF_ERROR(st);
    std::cout << "re-sealed " << Node::KeyringPath(dir).string() << " under " << sealed_under
              << "; the store was not touched\n";
    KH_RETURN_IF_ERROR(put_on_record("keyring re-sealed under " + std::string(next.key_file.empty()
                                                                                  ? "a new passphrase"
                                                                                  : "a key file")));
    std::cerr << "copies of the keyring made before (with backups, say) still open this node "
                 "with the old passphrase or key file; `khronika passphrase change "
                 "--rotate-data-key` retires them\n";
    lock_agent();
    return Status::Ok();
  }
  KH_ASSIGN_OR_RETURN(StoreOptions options, StoreOptionsFrom(args, false));
  // The upload_chunks table's keys name token ids: the plan needs them all.
  auto plan = [](const ReadTxn& txn, const std::function<Bytes(ByteView)>& blind_next,
                 const SymmetricKey& archive_key) -> Result<Store::KeyRenames> {
    KH_ASSIGN_OR_RETURN(std::vector<TokenInfo> tokens, ListTokens(txn));
    std::vector<std::string> ids;
    for (const TokenInfo& t : tokens) ids.push_back(t.id);
    return PlanBlindedKeys(txn, blind_next, ids, archive_key);
  };
  auto done = Node::RotateDataKey(dir, current, next, plan, options);
  OPENSSL_cleanse(current.passphrase.data(), current.passphrase.size());
  if (!done.ok()) OPENSSL_cleanse(next.passphrase.data(), next.passphrase.size());
  if (!done.ok() && done.status().code() == Code::kStoreFull) {
    return done.status().Annotate(
        "the rotation writes a re-encrypted copy of the store beside it, so it needs free disk "
        "room for a second copy; nothing was changed");
  }
  if (!done.ok()) return done.status();
  std::cout << "re-encrypted " << done->values << " values of the store under a new data key ("
            << done->renamed << " index keys made anew) and sealed it in "
            << Node::KeyringPath(dir).string() << " under " << sealed_under << "\n";
  if (done->dropped > 0) {
    std::cout << "left out " << done->dropped
              << " record(s) of uploads whose token or chunk no longer exists\n";
  }
  KH_RETURN_IF_ERROR(put_on_record(
      "data key rotated, store re-encrypted, keyring re-sealed under " +
      std::string(next.key_file.empty() ? "a new passphrase" : "a key file")));
  std::cerr << "keyrings copied before this no longer open the store; each still opens the "
               "backups made while it was current, so keep it with them (or destroy both). The "
               "node key, witness key and TLS key are the same as before. Make a new backup "
               "(`khronika backup`) and keep the new keyring with it\n";
  lock_agent();
  return Status::Ok();
}

// ---- keygen ----
Status RunKeygen(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string out, args.Require("out"));
  SigningKey key = SigningKey::Generate();
  KH_RETURN_IF_ERROR(WriteNewFile(out, key.ToPem(), 0600));
  KH_RETURN_IF_ERROR(WriteNewFile(out + ".pub", PublicKeyToPem(key.public_key()), 0644));
  std::cout << ToHex(key.public_key()) << "\n";
  std::cerr << "wrote private key " << out << " (mode 0600) and public key " << out << ".pub\n";
  return Status::Ok();
}

// ---- author add ----
Status RunAuthorAdd(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string name, args.Require("name"));
  KH_ASSIGN_OR_RETURN(std::string pubkey_path, args.Require("pubkey"));
  KH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(pubkey_path, 16 * 1024));
  auto key = ParsePublicKey(text);
  if (!key.ok()) return key.status().Annotate(pubkey_path);
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_RETURN_IF_ERROR(RegisterAuthor(node->store(), *key, name));
  std::cout << "registered author '" << name << "' " << ToHex(*key) << "\n";
  std::cerr << "run `khronika key export` again so that the off-site copy has this author\n";
  return Status::Ok();
}

// ---- author list, author remove ----
Status RunAuthorList(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, true));
  KH_ASSIGN_OR_RETURN(std::vector<RegisteredAuthor> authors, ListAuthors(node->store()));
  std::sort(authors.begin(), authors.end(), [](const RegisteredAuthor& a, const RegisteredAuthor& b) {
    return a.name < b.name;
  });
  for (const RegisteredAuthor& a : authors) {
    std::string pubkey = a.key_known ? ToHex(a.key) : "";
    if (args.Has("json")) {
      std::cout << json{{"name", a.name},
                        {"pubkey", a.key_known ? json(pubkey) : json(nullptr)},
                        {"removed", a.removed}}
                       .dump()
                << "\n";
      continue;
    }
    std::cout << (a.key_known ? pubkey : std::string("(key not kept: registered by an older khronika)"))
              << "  " << ShowInvisible(a.name) << (a.removed ? "  REMOVED" : "") << "\n";
  }
  return Status::Ok();
}

Status RunAuthorRemove(const Args& args) {
  if (args.positional().size() != 1) return UsageError("author remove takes one PUBKEY (64 hex)");
  auto key = ParsePublicKey(args.positional()[0]);
  if (!key.ok()) return UsageError("author remove: " + key.status().message());
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_RETURN_IF_ERROR(RemoveAuthor(node->store(), *key));
  std::cout << "removed author " << ToHex(*key) << ": new entries signed by it are refused; the "
            << "entries it signed stay in the log, valid\n";
  std::cerr << "run `khronika key export` again so that the off-site copy has this change\n";
  return Status::Ok();
}

// ---- add ----

// Before anything is sealed: an author Append would refuse gets the same answer now, and no
// file is read and sealed for an entry that will never come.
Status CheckAuthorRegistered(Node& node, const SigningKey& author) {
  return node.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto registered, FindAuthor(txn, author.public_key()));
    if (!registered || registered->removed) {
      return Status::PermissionDenied("author " + ToHex(author.public_key()) +
                                      (registered ? " was removed" : " is not registered") +
                                      " on this node (`khronika author add`)");
    }
    return Status::Ok();
  });
}

Status RunAdd(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string key_path, args.Require("key"));
  KH_ASSIGN_OR_RETURN(std::string case_id, args.Require("case"));
  KH_RETURN_IF_ERROR(ValidateCaseId(case_id));
  std::string kind = args.Get("kind").value_or("evidence");
  KH_RETURN_IF_ERROR(ValidateKind(kind));
  KH_ASSIGN_OR_RETURN(auto metadata, ParseMeta(args.GetAll("meta")));
  std::optional<Hash> corrects;
  if (auto c = args.Get("corrects")) {
    auto h = ParseHashHex(*c);
    if (!h.ok()) return UsageError("--corrects: " + h.status().message());
    corrects = *h;
  }
  if (args.positional().empty() && kind == "evidence") {
    return UsageError("name at least one FILE (or use --kind note with --meta)");
  }
  KH_ASSIGN_OR_RETURN(SigningKey author, LoadAuthorKey(key_path));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_RETURN_IF_ERROR(CheckAuthorRegistered(*node, author));
  EntryFields fields{case_id, kind, std::move(metadata), corrects};
  KH_ASSIGN_OR_RETURN(CheckedSubmission checked,
                      SealAndSign(node->log(), author, fields, args.positional(), true));
  std::vector<CheckedSubmission> batch;
  batch.push_back(std::move(checked));
  std::vector<Result<Receipt>> receipts = node->log().AppendChecked(batch);
  if (!receipts[0].ok()) return receipts[0].status();
  const Receipt& r = *receipts[0];
  if (args.Has("json")) {
    std::cout << ReceiptJson(r).dump() << "\n";
  } else {
    std::cout << "entry " << ToHex(r.entry_id) << "\n" << "index " << r.index << "\n";
  }
  return Status::Ok();
}

// ---- import ----

// A batch of entries is one commit and one checkpoint: bounded by count, and by the bytes of
// small entries' sealed chunks it holds in memory until that commit.
constexpr size_t kImportBatchEntries = 250;
constexpr size_t kImportBatchHeldBytes = size_t{8} << 20;

// The files an import names, in order: each PATH as given, a directory's files walked in name
// order (depth first). Symbolic links and special files found in a directory are skipped with
// a message; named as a PATH, they are refused. So is anything inside the node's own data
// directory.
struct ImportList {
  std::vector<std::string> files;
  uint64_t bytes = 0;
  size_t skipped = 0;
};

Status CollectImport(const std::filesystem::path& path, bool named, const std::filesystem::path& data,
                     ImportList& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);
  if (ec) return Status::NotFound(path.string() + ": " + ec.message());
  const std::string shown = ShowInvisible(path.string());
  if (st.type() == fs::file_type::directory) {
    fs::path canonical = fs::weakly_canonical(path, ec);
    auto rel = data.lexically_relative(canonical);
    if (canonical == data || (!rel.empty() && *rel.begin() != "..")) {
      return Status::InvalidArgument(shown + " holds the node's own data directory: refused");
    }
    std::vector<fs::path> children;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      children.push_back(it->path());
    }
    if (ec) return Status::IOError("cannot list " + shown + ": " + ec.message());
    std::sort(children.begin(), children.end());
    for (const fs::path& child : children) KH_RETURN_IF_ERROR(CollectImport(child, false, data, out));
    return Status::Ok();
  }
  const char* what = st.type() == fs::file_type::regular   ? nullptr
                     : st.type() == fs::file_type::symlink ? "a symbolic link"
                                                           : "not a regular file";
  if (what != nullptr) {
    if (named) return Status::InvalidArgument(shown + " is " + what + ": refused");
    std::cerr << "skipped " << shown << ": " << what << "\n";
    ++out.skipped;
    return Status::Ok();
  }
  fs::path canonical = fs::weakly_canonical(path, ec);
  auto rel = canonical.lexically_relative(data);
  if (!rel.empty() && *rel.begin() != "..") {
    return Status::InvalidArgument(shown + " is inside the node's own data directory: refused");
  }
  KH_RETURN_IF_ERROR(ValidateFileName(path.filename().string()).Annotate(shown));
  out.bytes += fs::file_size(path, ec);
  out.files.push_back(path.string());
  return Status::Ok();
}

// A progress bar on a terminal, redrawn at most ten times a second; nothing otherwise.
class Progress {
 public:
  Progress(size_t files, uint64_t bytes) : tty_(::isatty(2) == 1), files_(files), bytes_(bytes) {}
  void Show(size_t files, uint64_t bytes, bool force = false) {
    if (!tty_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr int kWidth = 30;
    const double part = files_ == 0 ? 1.0 : static_cast<double>(files) / static_cast<double>(files_);
    const int filled = static_cast<int>(part * kWidth);
    char line[160];
    std::snprintf(line, sizeof line, "\r[%s%s] %zu/%zu files, %.1f/%.1f MiB ",
                  std::string(static_cast<size_t>(filled), '#').c_str(),
                  std::string(static_cast<size_t>(kWidth - filled), ' ').c_str(), files, files_,
                  static_cast<double>(bytes) / (1 << 20), static_cast<double>(bytes_) / (1 << 20));
    std::cerr << line << std::flush;
  }
  void Done() {
    if (tty_) std::cerr << "\n";
  }

 private:
  bool tty_;
  size_t files_;
  uint64_t bytes_;
  std::chrono::steady_clock::time_point last_{};
};

// Runs `work` for files 0..n-1 on a thread per core (at most 4), at most kImportWindow files
// and kImportWindowBytes of held sealed chunks ahead of the one the caller takes next; Take(i)
// waits for file i. Stop() ends the workers and hands back what was sealed but not taken.
constexpr size_t kImportWindow = 64;
constexpr size_t kImportWindowBytes = size_t{32} << 20;
class ImportPipeline {
 public:
  using Work = std::function<Result<CheckedSubmission>(size_t)>;
  ImportPipeline(size_t n, Work work) : work_(std::move(work)), slots_(n) {
    const size_t threads =
        std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
    for (size_t t = 0; t < std::min(threads, n); ++t) threads_.emplace_back([this] { Run(); });
  }
  ~ImportPipeline() { (void)Stop(); }
  ImportPipeline(const ImportPipeline&) = delete;
  ImportPipeline& operator=(const ImportPipeline&) = delete;

  Result<CheckedSubmission> Take(size_t i) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return slots_[i].has_value(); });
    Result<CheckedSubmission> out = std::move(*slots_[i]);
    slots_[i].reset();
    taken_ = i + 1;
    if (out.ok()) ahead_bytes_ -= out->held_bytes();
    cv_.notify_all();
    return out;
  }

  std::vector<CheckedSubmission> Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    std::vector<CheckedSubmission> left;
    for (auto& slot : slots_) {
      if (slot && slot->ok()) left.push_back(std::move(slot->value()));
      slot.reset();
    }
    return left;
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] {
        return stopping_ || next_ == slots_.size() ||
               (next_ < taken_ + kImportWindow && ahead_bytes_ < kImportWindowBytes);
      });
      if (stopping_ || next_ == slots_.size()) return;
      const size_t i = next_++;
      lock.unlock();
      Result<CheckedSubmission> r = work_(i);
      lock.lock();
      if (r.ok()) ahead_bytes_ += r->held_bytes();
      slots_[i] = std::move(r);
      cv_.notify_all();
    }
  }

  Work work_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::optional<Result<CheckedSubmission>>> slots_;
  size_t next_ = 0;   // the next file a worker claims
  size_t taken_ = 0;  // files the caller has taken
  size_t ahead_bytes_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: they use the members above
};

Status RunImport(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string key_path, args.Require("key"));
  KH_ASSIGN_OR_RETURN(std::string data, args.Require("data"));
  EntryFields fields;
  KH_ASSIGN_OR_RETURN(fields.case_id, args.Require("case"));
  KH_RETURN_IF_ERROR(ValidateCaseId(fields.case_id));
  fields.kind = args.Get("kind").value_or("evidence");
  KH_RETURN_IF_ERROR(ValidateKind(fields.kind));
  KH_ASSIGN_OR_RETURN(fields.metadata, ParseMeta(args.GetAll("meta")));
  if (args.positional().empty()) return UsageError("name at least one PATH (a file or directory)");
  // Every path is looked at, and every name checked, before anything is written.
  ImportList list;
  std::error_code ec;
  const std::filesystem::path data_dir = std::filesystem::weakly_canonical(data, ec);
  for (const std::string& p : args.positional()) {
    KH_RETURN_IF_ERROR(CollectImport(p, true, data_dir, list));
  }
  if (list.files.empty()) return Status::InvalidArgument("no file to import");
  KH_ASSIGN_OR_RETURN(SigningKey author, LoadAuthorKey(key_path));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_RETURN_IF_ERROR(CheckAuthorRegistered(*node, author));
  Log& log = node->log();
  const bool as_json = args.Has("json");
  const auto started = std::chrono::steady_clock::now();
  Progress progress(list.files.size(), list.bytes);
  size_t committed = 0, batches = 0;
  uint64_t committed_bytes = 0, sealed_bytes = 0;
  std::vector<CheckedSubmission> batch;
  std::vector<size_t> batch_files;  // index in list.files of each entry of the batch
  size_t held = 0;
  // Appends the batch (one commit, one checkpoint) and prints a line per entry, after the commit.
  auto commit = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    std::vector<Result<Receipt>> results = log.AppendChecked(batch);
    Status first = Status::Ok();
    for (size_t i = 0; i < results.size(); ++i) {
      const std::string& path = list.files[batch_files[i]];
      if (!results[i].ok()) {
        if (first.ok()) first = results[i].status().Annotate(ShowInvisible(path));
        continue;
      }
      const Receipt& r = *results[i];
      ++committed;
      committed_bytes += batch[i].submission().files[0].opening.descriptor.size;
      if (as_json) {
        json line = ReceiptJson(r);
        line["path"] = path;
        std::cout << line.dump() << "\n";
      } else {
        std::cout << r.index << " " << ToHex(r.entry_id) << " " << ShowInvisible(path) << "\n";
      }
    }
    std::cout << std::flush;
    ++batches;
    batch.clear();
    batch_files.clear();
    held = 0;
    return first;
  };
  // Files are read, sealed, signed and checked on every core (SealAndSign: an Ed25519 signature
  // and its verification, key derivations and sealing per file), a bounded window ahead of this
  // thread, which takes them in order and commits them in batches: the output, the log's order
  // and what a failure keeps are those of one file at a time.
  ImportPipeline pipeline(list.files.size(), [&](size_t i) {
    return SealAndSign(log, author, fields, {list.files[i]}, false);
  });
  Status st = Status::Ok();
  for (size_t i = 0; i < list.files.size() && st.ok(); ++i) {
    Result<CheckedSubmission> checked = pipeline.Take(i);
    if (!checked.ok()) {
      st = checked.status();
      break;
    }
    for (const auto& c : checked->submission().files) sealed_bytes += c.opening.descriptor.size;
    held += checked->held_bytes();
    batch.push_back(std::move(*checked));
    batch_files.push_back(i);
    if (batch.size() >= kImportBatchEntries || held >= kImportBatchHeldBytes) st = commit();
    progress.Show(i + 1, sealed_bytes);
  }
  // Files sealed ahead of a failure are not logged: nothing of them stays.
  for (CheckedSubmission& ahead : pipeline.Stop()) (void)log.Discard(ahead);
  // What was sealed and checked before a failure is committed all the same: the error names the
  // one file that failed, and the lines printed name every entry that was logged.
  Status last = commit();
  if (st.ok()) st = last;
  progress.Show(committed, committed_bytes, true);
  progress.Done();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char summary[200];
  std::snprintf(summary, sizeof summary,
                "%zu of %zu files logged as %zu entries of case '%s' in %zu commits "
                "(%.1f MiB, %.1f s)",
                committed, list.files.size(), committed, ShowInvisible(fields.case_id).c_str(),
                batches, static_cast<double>(committed_bytes) / (1 << 20), seconds);
  std::cerr << summary;
  if (list.skipped > 0) std::cerr << "; " << list.skipped << " skipped (named above)";
  std::cerr << "\n";
  if (!st.ok()) {
    std::cerr << "import stopped: the " << committed << " entries listed on standard output are "
              << "logged; the files after them are not (import them again once the problem is "
              << "fixed)\n";
  }
  return st;
}

// ---- log ----

// The JSON view of one logged object. Anyone holding the log gets the record's and the sealed
// object's bytes; this node's own entries, opened with its archive key, add what the author
// signed: the signed entry's bytes and each file's descriptor, salt and commitment, which prove
// the file against the signature without any other file of the entry.
json LoggedJson(const LoggedObject& logged, const OpenedEntry* opened) {
  const Record& rec = logged.record;
  auto type = PeekObjectType(logged.object_bytes);
  std::string kind = !type.ok()                   ? "unknown"
                     : *type == kTypeSealedEntry ? "sealed_entry"
                     : *type == kTypeRecoverySet ? "recovery_set"
                     : *type == kTypeShareRelease ? "share_release"
                     : *type == kTypeCustodyRecord ? "custody_record"
                                                 : "unknown";
  json line = {{"index", rec.index},
               {"origin", ToHex(rec.origin)},
               {"object_type", kind},
               {"entry_id", ToHex(rec.object_id)},
               {"received_at_ms", rec.received_at_ms},
               {"leaf_hash", ToHex(LeafHash(logged.record_bytes))},
               {"record_hex", ToHex(logged.record_bytes)},
               {"object_hex", ToHex(logged.object_bytes)}};
  if (opened == nullptr) return line;
  const SignedEntry& e = opened->entry;
  json files = json::array();
  for (size_t i = 0; i < opened->files.size(); ++i) {
    const FileOpening& f = opened->files[i];
    Bytes descriptor = Encode(f.descriptor);
    files.push_back({{"index", i},
                     {"name", f.descriptor.name},
                     {"media_type", f.descriptor.media_type},
                     {"size", f.descriptor.size},
                     {"sha256", ToHex(f.descriptor.content_sha256)},
                     {"descriptor_hex", ToHex(descriptor)},
                     {"salt", ToHex(f.salt)},
                     {"commitment", ToHex(e.files[i])}});
  }
  line["case"] = opened->case_id;
  line["kind"] = e.kind;
  line["author"] = ToHex(e.author);
  line["created_at_ms"] = e.created_at_ms;
  line["metadata"] = e.metadata;
  line["entry_hex"] = ToHex(opened->signed_entry_bytes);
  line["files"] = files;
  return line;
}

Status RunLog(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, true));
  KH_ASSIGN_OR_RETURN(Hash origin, ParseOrigin(args, *node));
  // This node's own log, or one it adopted after a recovery: its archive key opens them.
  bool own = false;
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(std::vector<Hash> openable, OpenableOrigins(txn));
    own = std::find(openable.begin(), openable.end(), origin) != openable.end();
    return Status::Ok();
  }));
  std::optional<std::string> case_filter = args.Get("case");
  if (case_filter) KH_RETURN_IF_ERROR(ValidateCaseId(*case_filter));
  if (case_filter && !own) {
    return UsageError("--case lists this node's own log (or one it adopted) only: a partner's "
                      "log is sealed, and nothing here says which of its records belong to a "
                      "case");
  }
  bool as_json = args.Has("json");
  const EntryKey key = EntryKey::Archive(node->archive_key());
  return node->store().View([&](ReadTxn& txn) -> Status {
    auto print = [&](uint64_t index) -> Status {
      KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, origin, index));
      const Record& rec = logged.record;
      std::optional<OpenedEntry> opened;
      auto type = PeekObjectType(logged.object_bytes);
      if (own && type.ok() && *type == kTypeSealedEntry) {
        KH_ASSIGN_OR_RETURN(opened, OpenEntry(txn, origin, key, rec.object_id));
        if (case_filter && opened->case_id != *case_filter) return Status::Ok();
      }
      json line = LoggedJson(logged, opened ? &*opened : nullptr);
      if (as_json) {
        std::cout << line.dump() << "\n";
        return Status::Ok();
      }
      std::cout << rec.index << "  " << ToHex(rec.object_id);
      if (!opened) {
        std::cout << "  " << line["object_type"].get<std::string>()
                  << (own ? "" : " (sealed: only its origin reads it)") << "\n";
        return Status::Ok();
      }
      std::cout << "  " << ShowInvisible(opened->case_id) << "  " << opened->entry.kind;
      for (const FileOpening& f : opened->files) std::cout << "  " << ShowInvisible(f.descriptor.name);
      std::cout << "\n";
      return Status::Ok();
    };
    if (case_filter) {
      return txn.Scan(Table::kCaseIndex, keys::CasePrefix(txn, *case_filter, origin),
                      [&](ByteView key, ByteView) -> Result<bool> {
                        KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodeCaseRecord(key));
                        KH_RETURN_IF_ERROR(print(at.index));
                        return true;
                      });
    }
    KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, origin));
    for (uint64_t i = 0; i < size; ++i) KH_RETURN_IF_ERROR(print(i));
    return Status::Ok();
  });
}

// ---- cat ----
Status RunCat(const Args& args) {
  if (args.positional().size() != 2) return UsageError("cat takes ENTRY_ID and NAME");
  auto entry_id = ParseHashHex(args.positional()[0]);
  if (!entry_id.ok()) return UsageError("ENTRY_ID: " + entry_id.status().message());
  const std::string& name = args.positional()[1];
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  // Open the entry in one read transaction, then stream: the reader takes each sealed chunk in
  // a short transaction of its own, so that a slow reader never pins old pages.
  FileDescriptor descriptor;
  SymmetricKey file_key{};
  uint32_t index = 0;
  std::optional<SealedEntry> sealed;
  std::string case_id;
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    // This node's own log, or a log it adopted after a recovery.
    KH_ASSIGN_OR_RETURN(OpenedEntry e, OpenReadableEntry(txn, EntryKey::Archive(node->archive_key()),
                                                         *entry_id));
    for (uint32_t i = 0; i < e.files.size(); ++i) {
      if (e.files[i].descriptor.name != name) continue;
      descriptor = e.files[i].descriptor;
      index = i;
      file_key = DeriveFileKey(e.case_key, e.sealed.nonce, i);
      sealed = std::move(e.sealed);
      case_id = e.case_id;
      return Status::Ok();
    }
    return Status::NotFound("entry " + ToHex(*entry_id) + " has no file named '" + name + "'");
  }));
  // The operator's read is on record, like a read over HTTPS, before the first byte leaves.
  Status on_record = RecordOperatorAct(*node, "read-content",
                                       ToHex(*entry_id) + "/" + std::to_string(index), case_id);
  if (!on_record.ok()) {
    OPENSSL_cleanse(file_key.data(), file_key.size());
    return on_record;
  }
  auto reader = SealedFileReader::Open(ChunksOf(node->store()), *sealed, descriptor, file_key, index);
  OPENSSL_cleanse(file_key.data(), file_key.size());
  if (!reader.ok()) return reader.status();
  Sha256Stream content;
  uint64_t offset = 0;
  while (offset < reader->size()) {
    KH_ASSIGN_OR_RETURN(Bytes piece, reader->Read(offset, kChunkSize));
    if (piece.empty()) return Status::Corruption("'" + name + "' ends before its signed size");
    content.Update(piece);
    KH_RETURN_IF_ERROR(WriteAll(STDOUT_FILENO, piece.data(), piece.size(), "standard output"));
    offset += piece.size();
  }
  if (offset != descriptor.size || content.Finish() != descriptor.content_sha256) {
    return Status::Corruption("content of '" + name + "' does not match its signed SHA-256");
  }
  return Status::Ok();
}

// ---- id / checkpoint ----

// "AB:CD:…": how browsers show a certificate's SHA-256, so that a lawyer can compare it with what
// the address bar's certificate viewer says.
std::string BrowserFingerprint(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (!out.empty()) out += ':';
    for (char c : hex.substr(i, 2)) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

Status RunId(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, true));
  std::string fingerprint;
  std::filesystem::path cert = std::filesystem::path(*args.Get("data")) / "tls.crt";
  if (std::filesystem::exists(cert)) {
    KH_ASSIGN_OR_RETURN(fingerprint, CertificateFingerprint(cert));
  }
  std::string recovery;
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kMeta, AsBytes(keys::kMetaRecoveryPublicKey)));
    if (v) recovery = std::string(AsChars(*v));
    return Status::Ok();
  }));
  if (args.Has("json")) {
    json j = {{"node_id", ToHex(node->id())},
              {"cert_sha256", fingerprint},
              {"cert_sha256_colons", BrowserFingerprint(fingerprint)},
              {"cosigner_vkey", node->cosigner_verifier_key()},
              {"vkey", node->verifier_key()},
              {"name", node->name()},
              {"origin", node->origin_name()},
              {"public_key", ToHex(node->key().public_key())}};
    if (!recovery.empty()) j["recovery_pubkey"] = recovery;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "node_id " << ToHex(node->id()) << "\n"
              << "vkey " << node->verifier_key() << "\n"
              << "cosigner_vkey " << node->cosigner_verifier_key() << "\n"
              << "name " << node->name() << "\n";
    if (!fingerprint.empty()) {
      std::cout << "cert_sha256 " << fingerprint << "\n"
                << "cert_sha256_colons " << BrowserFingerprint(fingerprint) << "\n";
    }
    if (!recovery.empty()) std::cout << "recovery_pubkey " << recovery << "\n";
  }
  return Status::Ok();
}

Status RunCheckpoint(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, true));
  KH_ASSIGN_OR_RETURN(Hash origin, ParseOrigin(args, *node));
  return node->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto last, txn.Last(Table::kCheckpoints, origin));
    if (!last) return Status::NotFound("no checkpoint yet for " + OriginName(origin));
    std::cout << AsChars(last->second);
    return Status::Ok();
  });
}

// ---- proof ----
Status RunProof(const Args& args) {
  bool inclusion = args.Has("index");
  bool consistency = args.Has("from") || args.Has("to");
  if (inclusion == consistency) {
    return UsageError("give either --index I [--size N] or --from M --to N");
  }
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, true));
  KH_ASSIGN_OR_RETURN(Hash origin, ParseOrigin(args, *node));
  return node->store().View([&](ReadTxn& txn) -> Status {
    json out;
    if (inclusion) {
      KH_ASSIGN_OR_RETURN(uint64_t index, args.GetUnsigned("index", 0));
      std::optional<uint64_t> size;
      if (args.Has("size")) {
      KH_ASSIGN_OR_RETURN(size, args.GetUnsigned("size", 0));
    }
      KH_ASSIGN_OR_RETURN(InclusionProofResult p, ProveInclusion(txn, origin, index, size));
      out = ToJson(p);
    } else {
      if (!args.Has("from")) return UsageError("--to needs --from");
      KH_ASSIGN_OR_RETURN(uint64_t from, args.GetUnsigned("from", 0));
      std::optional<uint64_t> to;
      if (args.Has("to")) {
      KH_ASSIGN_OR_RETURN(to, args.GetUnsigned("to", 0));
    }
      KH_ASSIGN_OR_RETURN(ConsistencyProofResult p, ProveConsistency(txn, origin, from, to));
      out = ToJson(p);
    }
    std::cout << out.dump(2) << "\n";
    return Status::Ok();
  });
}

// ---- verify ----
Status RunVerify(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, true));
  // The node's own log with its archive key (every entry opened, every plaintext byte checked
  // against its author's signature); partners' logs as a partner can: sealed.
  VerifyOptions options{&node->archive_key(), node->id()};
  KH_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(node->store(), options));
  for (const std::string& p : report.problems) std::cout << "FAIL " << p << "\n";
  std::string counts = std::to_string(report.records) + " records in " +
                       std::to_string(report.origins) + " logs, " +
                       std::to_string(report.objects) + " objects (" +
                       std::to_string(report.sealed_entries) + " sealed entries), " +
                       std::to_string(report.chunks) + " sealed chunks, " +
                       std::to_string(report.tree_nodes) + " tree nodes, " +
                       std::to_string(report.checkpoints) + " checkpoints; " +
                       std::to_string(report.entries_opened) +
                       " entries of this node's log opened with its archive key";
  if (!report.clean()) {
    std::cout << report.problems.size() << " problems found (checked " << counts << ")\n";
    return ProblemsFound();
  }
  std::cout << "clean: checked " << counts << "\n";
  return Status::Ok();
}

}  // namespace

Result<Unlock> UnlockFrom(const Args& args, const std::filesystem::path& dir) {
  Unlock unlock;
  if (!Node::IsEncrypted(dir)) return unlock;
  if (auto key_file = args.Get("key-file")) {
    unlock.key_file = *key_file;
    return unlock;
  }
  // This shell's unlock agent, unless the command was told where the secret is. Not for a node
  // whose data-key rotation was cut short: which keyring opens it is settled with a secret.
  if (!args.Has("passphrase-fd") && !std::filesystem::exists(Node::NextKeyringPath(dir))) {
    if (auto key = KeyFromAgent(Node::KeyringPath(dir))) {
      unlock.keyring_key = *key;
      OPENSSL_cleanse(key->data(), key->size());
      return unlock;
    }
  }
  KH_ASSIGN_OR_RETURN(KeyringInfo info, Node::LockOf(dir));
  if (info.lock == LockKind::kKeyFile) return unlock;  // where the keyring remembers it
  KH_ASSIGN_OR_RETURN(unlock.passphrase, ReadPassphrase(args, "passphrase of the node in " + dir.string(), false));
  return unlock;
}

void AddUnlockOptions(std::vector<Command>& commands) {
  for (Command& c : commands) {
    auto has = [&](const char* name) {
      return std::any_of(c.options.begin(), c.options.end(), [&](const OptionSpec& o) { return o.name == name; });
    };
    if (!has("data") || c.name == "init" || c.name == "unlock") continue;
    if (!has("key-file")) c.options.push_back({"key-file"});
    if (!has("passphrase-fd")) c.options.push_back(kPassphraseFd);
    c.usage += "\nAn encrypted node opens with its key file (--key-file FILE, by default where its\n"
               "keyring remembers it) or its passphrase (--passphrase-fd N, the systemd credential\n"
               "khronika-passphrase, or the terminal), or through this shell's unlock agent\n"
               "(`eval \"$(khronika unlock --data DIR)\"`) when neither option is given.";
  }
}

Status RecordOperatorAct(Node& node, const std::string& action, const std::string& object,
                         const std::string& case_id) {
  KH_RETURN_IF_ERROR(node.store().Update([&](WriteTxn& txn) {
    return RecordAccess(txn, {SystemClock().NowMs(), "local", Role::kAdmin, action, object, case_id});
  }));
  LogPendingCustodyNow(node);
  return Status::Ok();
}

void LogPendingCustodyNow(Node& node) {
  if (auto logged = node.log().LogPendingCustody(); !logged.ok()) {
    std::cerr << "warning: custody events stay pending (on record; the next `serve` or export "
                 "logs them): "
              << logged.status().message() << "\n";
  }
}

Result<std::unique_ptr<Node>> OpenNode(const Args& args, bool read_only) {
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  KH_ASSIGN_OR_RETURN(StoreOptions options, StoreOptionsFrom(args, read_only));
  KH_ASSIGN_OR_RETURN(Unlock unlock, UnlockFrom(args, dir));
  auto node = Node::Open(dir, options, unlock);
  OPENSSL_cleanse(unlock.passphrase.data(), unlock.passphrase.size());
  if (unlock.keyring_key) OPENSSL_cleanse(unlock.keyring_key->data(), unlock.keyring_key->size());
  return node;
}

std::vector<Command> LocalCommands() {
  return {
      {"init", "create a node: store, node key; print its id and verifier key",
       "khronika init --data DIR [--name NAME] [--key-file FILE | --no-encryption]\n"
       "              [--node-key FILE [--archive-key FILE] | --keys FILE] [--passphrase-fd N]\n"
       "              [--map-size BYTES]\n"
       "Everything the node logs is sealed under its archive key (new, random). The node is\n"
       "encrypted at rest: every value in the store is AES-256-GCM under a new data key, and\n"
       "the data key, node key, witness key and archive key are kept only in DIR/node.keyring,\n"
       "sealed with a passphrase (asked twice on the terminal, or read from file descriptor N)\n"
       "or, with --key-file, with a key file (made if FILE does not exist; it must live outside\n"
       "DIR, and in real use off this machine). --no-encryption keeps the keys as plain files and\n"
       "the store in clear: a seized disk then reveals everything.\n"
       "With --keys, the identity and archive key come from a `khronika key export` file (asks\n"
       "its passphrase).\n"
       "With --node-key, the node takes back the identity in FILE (a node.key kept off-site),\n"
       "and with --archive-key FILE (an archive.key kept off-site) the key to its evidence:\n"
       "after a raid, init, add the members and peers again, and `khronika sync` restores\n"
       "its own log from them.\n"
       "Creates the keys (Ed25519), the LMDB store in DIR/store, and a self-signed TLS\n"
       "certificate (ECDSA P-256) in DIR/tls.crt and DIR/tls.key (0600).\n"
       "Prints the node id, its C2SP verifier key and the certificate's SHA-256.",
       {kData, {"name"}, {"node-key"}, {"archive-key"}, {"keys"}, {"key-file"}, {"no-encryption", false}, kPassphraseFd,
        kMapSize},
       RunInit},
      {"passphrase change", "re-seal an encrypted node's keys under a new passphrase or key file",
       "khronika passphrase change --data DIR [--key-file FILE] [--new-key-file FILE]\n"
       "                           [--rotate-data-key] [--passphrase-fd N] [--map-size BYTES]\n"
       "Opens DIR/node.keyring with the current passphrase (or key file) and seals the same keys\n"
       "again under a new passphrase, or under --new-key-file (made if it does not exist). The\n"
       "data key does not change, so the store is not rewritten, and a copy of the old keyring\n"
       "(kept with a backup, say) still opens the node with the old passphrase or key file.\n"
       "--rotate-data-key retires those copies: a new data key, the whole store re-encrypted\n"
       "under it into a copy that replaces it at once (it needs disk room for that copy, and\n"
       "the node stopped: no `serve` or other command may have it open), then the new\n"
       "keyring. Old keyrings still open the backups made before; the node, witness and TLS\n"
       "keys stay.\n"
       "With --passphrase-fd N, the current passphrase is the first line read from N and the\n"
       "new one the second.",
       {kData, {"key-file"}, {"new-key-file"}, {"rotate-data-key", false}, kPassphraseFd, kMapSize},
       RunPassphraseChange},
      {"key export", "write the node's keys, TLS certificate and authors sealed under a passphrase",
       "khronika key export --data DIR --out FILE [--passphrase-fd N]\n"
       "Seals the node key, the witness key, the archive key (which opens every entry the\n"
       "node logged), DIR/tls.crt, DIR/tls.key and the authors under a passphrase\n"
       "(scrypt N=2^17 r=8 p=1, then AES-256-GCM) into FILE (mode 0600), for safekeeping away\n"
       "from the office. After a raid, `khronika init --data DIR --keys FILE` takes the identity\n"
       "back (same node id, witness key, archive key, certificate and authors), then\n"
       "`khronika sync` restores the log, which the node can read again. The file also holds the authors registered (names, public keys);\n"
       "export again after `author add` or `author remove`. Tokens are never exported.\n"
       "The passphrase is asked twice on the terminal, or read from file descriptor N (after\n"
       "the node's own passphrase, if it is locked by one). The data key is not exported: a\n"
       "rebuilt node encrypts under a new one.",
       {kData, {"out"}, kPassphraseFd, kMapSize}, RunKeyExport},
      {"keygen", "create an author key (Ed25519 PEM, mode 0600); print its public key",
       "khronika keygen --out FILE\n"
       "Writes the private key to FILE (mode 0600) and the public key to FILE.pub;\n"
       "prints the public key in hex. The private key never needs to reach a node.",
       {{"out"}}, RunKeygen},
      {"author add", "register an author's public key",
       "khronika author add --data DIR --name NAME --pubkey FILE\n"
       "FILE holds a PEM public key (as keygen writes to FILE.pub) or 64 hex characters.",
       {kData, {"name"}, {"pubkey"}, kMapSize}, RunAuthorAdd},
      {"author list", "list registered authors (public key, name)",
       "khronika author list --data DIR [--json]\n"
       "One line per author: public key (hex), name, and REMOVED for a removed author.\n"
       "--json: one object per line, {\"name\", \"pubkey\", \"removed\"}. An author registered\n"
       "by an older khronika shows no key (only a blinded index of it was kept).",
       {kData, kJson, kMapSize}, RunAuthorList},
      {"author remove", "refuse new entries by an author (logged ones stay valid)",
       "khronika author remove --data DIR PUBKEY\n"
       "PUBKEY is 64 hex characters, as `author list` shows it. The author's name stays on\n"
       "record for the entries already logged, which stay valid; `author add` registers it again.",
       {kData, kMapSize}, RunAuthorRemove},
      {"add", "sign files as an author and append them to the local log",
       "khronika add --data DIR --key FILE --case ID [--kind KIND] [--meta k=v]...\n"
       "             [--corrects ENTRY_ID] [--json] FILE...\n"
       "Reads each FILE once, hashing it and sealing it under the node's archive key as it\n"
       "goes (memory stays a few MiB whatever its size), signs the entry with the author\n"
       "key in FILE (a salted commitment to each file's name, type, size and SHA-256),\n"
       "appends it and prints the entry id (the sealed\n"
       "entry's id) and record index (--json: the full receipt with checkpoint and inclusion\n"
       "proof).",
       {kData, {"key"}, {"case"}, {"kind"}, {"meta", true, true}, {"corrects"}, kJson, kMapSize},
       RunAdd},
      {"import", "log many files as one entry each, committed in shared transactions",
       "khronika import --data DIR --key FILE --case ID [--kind KIND] [--meta k=v]...\n"
       "                [--json] PATH...\n"
       "Logs each file as an entry of its own (as `add FILE` would: signed with the author key\n"
       "in FILE, sealed straight from the file), 250 entries to a commit and a\n"
       "checkpoint. A directory is walked in name order, its subdirectories too; symbolic links\n"
       "and special files found there are skipped with a message; named as a PATH, they are\n"
       "refused, as is anything in DIR. File names (not paths) are what the entries record.\n"
       "Every name is checked before anything is written. Prints one line per entry logged,\n"
       "after its commit: index, entry id, path (--json: the receipt with \"path\"); a progress\n"
       "bar on a terminal. On an error it stops, names the file, and keeps every entry printed.",
       {kData, {"key"}, {"case"}, {"kind"}, {"meta", true, true}, kJson, kMapSize}, RunImport},
      {"log", "list the records of a log",
       "khronika log --data DIR [--case ID] [--origin NODE_ID] [--json]\n"
       "--json prints one object per line with index, origin, object_type, entry_id (the\n"
       "sealed entry's id), received_at_ms, leaf_hash, record_hex (the bytes the leaf hash\n"
       "covers) and object_hex (the sealed entry's bytes). This node's own entries, opened with\n"
       "its archive key, add case, kind, author, created_at_ms, metadata, entry_hex (the\n"
       "signed entry's canonical bytes) and files (index, name, media_type, size, sha256,\n"
       "descriptor_hex, salt, commitment); so do those of a log adopted after a recovery\n"
       "(`recovery combine`). A partner's log is sealed: records and objects only; --case works\n"
       "on the node's own log and adopted ones.",
       {kData, {"case"}, {"origin"}, kJson, kMapSize}, RunLog},
      {"cat", "write one evidence file to standard output, checked against its signature",
       "khronika cat --data DIR ENTRY_ID NAME", {kData, kMapSize}, RunCat},
      {"id", "print the node id and C2SP verifier key",
       "khronika id --data DIR [--json]", {kData, kJson, kMapSize}, RunId},
      {"checkpoint", "print the latest signed checkpoint note",
       "khronika checkpoint --data DIR [--origin NODE_ID]", {kData, {"origin"}, kMapSize},
       RunCheckpoint},
      {"proof", "print an inclusion or consistency proof as JSON",
       "khronika proof --data DIR --index I [--size N] [--origin NODE_ID]\n"
       "khronika proof --data DIR --from M --to N [--origin NODE_ID]",
       {kData, {"index"}, {"size"}, {"from"}, {"to"}, {"origin"}, kMapSize}, RunProof},
      {"verify", "check everything in a store; exit 0 clean, 1 problems (named), 2 usage",
       "khronika verify --data DIR\n"
       "Recomputes every id, hash chain, Merkle node and checkpoint root and signature, and\n"
       "checks every sealed entry's sizes and every sealed chunk against its id. This node's\n"
       "own entries are opened with its archive key: case chains, author signatures, each\n"
       "file's signed commitment and every plaintext byte. Partners' logs are checked as a\n"
       "partner can, sealed. Prints one FAIL line per problem.",
       {kData, kMapSize}, RunVerify},
  };
}

}  // namespace khronika::cli

#include "khronika/log/node.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "khronika/log/purge.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/store/files.h"

namespace khronika {

Node::Node(std::unique_ptr<Store> store, SigningKey key, SigningKey cosigner,
           const SymmetricKey& archive_key, std::string name)
    : store_(std::move(store)),
      key_(std::move(key)),
      cosigner_(std::move(cosigner)),
      archive_key_(archive_key),
      id_(NodeIdFromPublicKey(key_.public_key())),
      name_(std::move(name)),
      log_(std::make_unique<Log>(*store_, key_, archive_key_)) {}

Node::~Node() {
  log_.reset();
  OPENSSL_cleanse(archive_key_.data(), archive_key_.size());
}

std::string Node::verifier_key() const { return FormatVerifierKey(origin_name(), key_.public_key()); }

std::string Node::cosigner_verifier_key() const {
  if (!has_cosigner_) return "";
  return FormatCosignerVerifierKey(cosigner_name(), cosigner_.public_key());
}

Result<SigningKey> Node::LoadOrCreateCosigner(const std::filesystem::path& dir, bool create) {
  std::filesystem::path path = CosignerKeyPath(dir);
  if (!std::filesystem::exists(path)) {
    // Nodes made before witnessing existed get their witness key on first open.
    SigningKey fresh = SigningKey::Generate();
    if (create) KH_RETURN_IF_ERROR(WriteNewFile(path, fresh.ToPem(), 0600));
    return fresh;
  }
  KH_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(path, 16 * 1024));
  return SigningKey::FromPem(pem);
}

Result<std::unique_ptr<Node>> Node::Init(const std::filesystem::path& dir, std::string_view name,
                                         const StoreOptions& options,
                                         std::optional<SigningKey> existing_key) {
  NodeInitOptions o;
  o.store = options;
  o.node_key = std::move(existing_key);
  return Init(dir, name, std::move(o));
}

Result<std::unique_ptr<Node>> Node::Init(const std::filesystem::path& dir, std::string_view name,
                                         NodeInitOptions options) {
  if (name.empty() || name.size() > 128) {
    return Status::InvalidArgument("node name must be 1 to 128 bytes");
  }
  if (Exists(dir)) return Status::AlreadyExists("a node already exists in " + dir.string());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  bool restoring = options.node_key.has_value();
  SigningKey key = restoring ? std::move(*options.node_key) : SigningKey::Generate();
  std::optional<SigningKey> cosigner;
  SymmetricKey archive_key = options.archive_key ? *options.archive_key : RandomSymmetricKey();
  if (options.archive_key) OPENSSL_cleanse(options.archive_key->data(), options.archive_key->size());
  if (options.seal_with) {
    NodeSecrets secrets{RandomSymmetricKey(), std::move(key),
                        options.cosigner_key ? std::move(*options.cosigner_key) : SigningKey::Generate(),
                        archive_key};
    // The keyring is written first: a store that nothing could ever open must not exist.
    Status sealed = WriteKeyring(KeyringPath(dir), secrets, *options.seal_with, false, options.scrypt);
    options.store.data_key = secrets.data_key;
    OPENSSL_cleanse(secrets.data_key.data(), secrets.data_key.size());
    OPENSSL_cleanse(secrets.archive_key.data(), secrets.archive_key.size());
    key = std::move(secrets.node_key);
    cosigner = std::move(secrets.cosigner_key);
    KH_RETURN_IF_ERROR(sealed);
  } else {
    KH_RETURN_IF_ERROR(WriteNewFile(KeyPath(dir), key.ToPem(), 0600));
    if (options.cosigner_key && !std::filesystem::exists(CosignerKeyPath(dir))) {
      KH_RETURN_IF_ERROR(WriteNewFile(CosignerKeyPath(dir), options.cosigner_key->ToPem(), 0600));
    }
    KH_ASSIGN_OR_RETURN(cosigner, LoadOrCreateCosigner(dir, true));
    std::string hex = ToHex(archive_key) + "\n";
    Status written = WriteNewFile(ArchiveKeyPath(dir), hex, 0600);
    OPENSSL_cleanse(hex.data(), hex.size());
    KH_RETURN_IF_ERROR(written);
  }
  auto opened = Store::Open(StorePath(dir), options.store);
  if (options.store.data_key) OPENSSL_cleanse(options.store.data_key->data(), 32);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<Store> store = std::move(opened).value();
  Hash id = NodeIdFromPublicKey(key.public_key());
  KH_RETURN_IF_ERROR(store->Update([&](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.Put(Table::kMeta, AsBytes(keys::kMetaNodeName), AsBytes(name)));
    KH_RETURN_IF_ERROR(txn.Put(Table::kMeta, AsBytes(keys::kMetaLocalOrigin), id));
    KH_RETURN_IF_ERROR(txn.Put(Table::kOrigins, id, key.public_key()));
    if (restoring) return txn.Put(Table::kMeta, AsBytes(keys::kMetaRestorePending), AsBytes("1"));
    // An empty log has a signed checkpoint too, so a verifier can tell "empty" from "withheld".
    return txn.Put(Table::kCheckpoints, keys::Checkpoint(id, 0),
                   AsBytes(SignCheckpoint(key, 0, MerkleEmptyRoot())));
  }));
  auto node = std::unique_ptr<Node>(new Node(std::move(store), std::move(key), std::move(*cosigner),
                                             archive_key, std::string(name)));
  OPENSSL_cleanse(archive_key.data(), archive_key.size());
  return node;
}

bool Node::Exists(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::exists(KeyPath(dir), ec) || std::filesystem::exists(KeyringPath(dir), ec) ||
         std::filesystem::exists(StorePath(dir) / "data.mdb", ec);
}

bool Node::IsEncrypted(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::exists(KeyringPath(dir), ec);
}

Result<KeyringInfo> Node::LockOf(const std::filesystem::path& dir) {
  if (!IsEncrypted(dir)) return Status::NotFound("the node in " + dir.string() + " is not encrypted");
  return ReadKeyringInfo(KeyringPath(dir));
}

namespace {

// An empty unlock of a key-file keyring looks where the key file was when it was sealed.
Result<NodeSecrets> OpenNodeKeyring(const std::filesystem::path& path, const Unlock& unlock) {
  Unlock u = unlock;
  if (u.empty()) {
    KH_ASSIGN_OR_RETURN(KeyringInfo info, ReadKeyringInfo(path));
    if (info.lock == LockKind::kPassphrase) {
      return Status::PermissionDenied("the node is encrypted: its passphrase is needed to open it");
    }
    if (info.key_file_hint.empty() || !std::filesystem::exists(info.key_file_hint)) {
      return Status::PermissionDenied(
          "the node is encrypted: its key file is needed to open it" +
          (info.key_file_hint.empty() ? std::string()
                                      : " (not found at " + info.key_file_hint.string() + ")"));
    }
    u.key_file = info.key_file_hint;
  }
  return OpenKeyring(path, u);
}

Status SyncDirectory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) return ErrnoStatus("fsync " + dir.string());
  return Status::Ok();
}

Result<std::unique_ptr<Store>> OpenStoreWith(const std::filesystem::path& dir,
                                             const StoreOptions& options, const SymmetricKey& key) {
  StoreOptions keyed = options;
  keyed.data_key = key;
  auto store = Store::Open(Node::StorePath(dir), keyed);
  OPENSSL_cleanse(keyed.data_key->data(), keyed.data_key->size());
  return store;
}

struct KeyedStore {
  NodeSecrets secrets;
  std::unique_ptr<Store> store;
};

// Opens DIR's keyring with `unlock`, then the store with its data key. Everything that can
// refuse (a wrong passphrase above all) happens before the store opens. A DIR/node.keyring.next
// left by an interrupted data-key rotation (Node::RotateDataKey) is dealt with here: if the
// store is still under the key of node.keyring, the rotation never committed and the file goes;
// if it is under the key of node.keyring.next, the rotation committed and the file takes
// node.keyring's place, as the rotation would have done. The caller wipes the data key.
Result<KeyedStore> OpenKeyedStore(const std::filesystem::path& dir, const StoreOptions& options,
                                  const Unlock& unlock) {
  const std::filesystem::path keyring = Node::KeyringPath(dir), next = Node::NextKeyringPath(dir);
  auto secrets = OpenNodeKeyring(keyring, unlock);
  std::error_code ec;
  if (!std::filesystem::exists(next, ec)) {
    if (!secrets.ok()) return secrets.status();
    auto store = OpenStoreWith(dir, options, secrets->data_key);
    if (store.status().code() == Code::kPermissionDenied) {
      return Status::PermissionDenied(
          keyring.string() + " opens, but its data key does not open the store in " + dir.string() +
          ": the store is under another data key. A keyring copied before a `khronika "
          "passphrase change --rotate-data-key` no longer opens the store (only the backups "
          "made before it), nor does another node's keyring");
    }
    if (!store.ok()) return store.status();
    return KeyedStore{std::move(secrets).value(), std::move(store).value()};
  }
  if (secrets.ok()) {
    auto store = OpenStoreWith(dir, options, secrets->data_key);
    if (store.ok()) {
      std::filesystem::remove(next, ec);  // a rotation that never committed
      return KeyedStore{std::move(secrets).value(), std::move(store).value()};
    }
    if (store.status().code() != Code::kPermissionDenied) return store.status();
  }
  auto rotated = OpenNodeKeyring(next, unlock);
  if (rotated.ok()) {
    auto store = OpenStoreWith(dir, options, rotated->data_key);
    if (store.ok()) {
      if (::rename(next.c_str(), keyring.c_str()) != 0 && errno != ENOENT) {
        return ErrnoStatus("finish the interrupted data-key rotation: rename " + next.string());
      }
      KH_RETURN_IF_ERROR(SyncDirectory(dir));
      return KeyedStore{std::move(rotated).value(), std::move(store).value()};
    }
    if (store.status().code() != Code::kPermissionDenied) return store.status();
  }
  if (!secrets.ok() && !rotated.ok()) return secrets.status();
  return Status::PermissionDenied(
      "a data-key rotation of " + dir.string() +
      " was interrupted after the store was re-encrypted: the store now opens only with " +
      next.string() +
      ", sealed under the new passphrase or key file given to `khronika passphrase change "
      "--rotate-data-key`; give that one, and the rotation is finished");
}

}  // namespace

Status Node::ChangeUnlock(const std::filesystem::path& dir, const Unlock& current,
                          const Unlock& next, const ScryptParams& scrypt) {
  if (!IsEncrypted(dir)) return Status::NotFound("the node in " + dir.string() + " is not encrypted");
  auto open = [&]() -> Result<NodeSecrets> {
    if (!std::filesystem::exists(NextKeyringPath(dir))) {
      return OpenNodeKeyring(KeyringPath(dir), current);
    }
    // An interrupted rotation: settle which keyring opens the store before sealing it anew.
    StoreOptions look;
    look.read_only = true;
    KH_ASSIGN_OR_RETURN(KeyedStore opened, OpenKeyedStore(dir, look, current));
    return std::move(opened.secrets);
  };
  KH_ASSIGN_OR_RETURN(NodeSecrets secrets, open());
  Status st = WriteKeyring(KeyringPath(dir), secrets, next, /*replace=*/true, scrypt);
  OPENSSL_cleanse(secrets.data_key.data(), secrets.data_key.size());
  OPENSSL_cleanse(secrets.archive_key.data(), secrets.archive_key.size());
  return st;
}

Result<Store::Rotation> Node::RotateDataKey(const std::filesystem::path& dir, const Unlock& current,
                                            const Unlock& next, const KeyRenamePlan& plan,
                                            const StoreOptions& options, const ScryptParams& scrypt,
                                            const std::function<void(std::string_view)>& at_step) {
  if (!IsEncrypted(dir)) {
    return Status::InvalidArgument("the node in " + dir.string() +
                                   " is not encrypted: it has no data key to rotate");
  }
  if (next.passphrase.empty() == next.key_file.empty()) {
    return Status::InvalidArgument(
        "seal the new keyring with a passphrase or a key file, exactly one");
  }
  auto step = [&](std::string_view name) {
    if (at_step) at_step(name);
  };
  StoreOptions exclusive = options;
  exclusive.read_only = false;
  exclusive.exclusive = true;
  KH_ASSIGN_OR_RETURN(KeyedStore opened, OpenKeyedStore(dir, exclusive, current));
  OPENSSL_cleanse(opened.secrets.data_key.data(), opened.secrets.data_key.size());
  KH_RETURN_IF_ERROR(CheckIdentity(*opened.store, opened.secrets.node_key).status());
  // The archive key stays: what is sealed under it is not rewritten.
  NodeSecrets fresh{RandomSymmetricKey(), std::move(opened.secrets.node_key),
                    std::move(opened.secrets.cosigner_key), opened.secrets.archive_key};
  OPENSSL_cleanse(opened.secrets.archive_key.data(), opened.secrets.archive_key.size());
  const std::filesystem::path next_path = NextKeyringPath(dir);
  Status written = WriteKeyring(next_path, fresh, next, /*replace=*/false, scrypt);
  if (!written.ok()) {
    OPENSSL_cleanse(fresh.data_key.data(), fresh.data_key.size());
    return written;
  }
  step("keyring written");
  auto store_plan = [&](const ReadTxn& txn, const std::function<Bytes(ByteView)>& blind_next) {
    return plan(txn, blind_next, fresh.archive_key);
  };
  auto rotated = opened.store->RotateDataKey(fresh.data_key, store_plan, [&] {
    step("store re-encrypted");
    return Status::Ok();
  });
  OPENSSL_cleanse(fresh.data_key.data(), fresh.data_key.size());
  OPENSSL_cleanse(fresh.archive_key.data(), fresh.archive_key.size());
  if (!rotated.ok()) {
    std::error_code ec;
    std::filesystem::remove(next_path, ec);
    return rotated.status();
  }
  step("store committed");
  // Still holding the store exclusively, so no other process finishes the rotation meanwhile.
  if (::rename(next_path.c_str(), KeyringPath(dir).c_str()) != 0) {
    return ErrnoStatus(
        "the store is re-encrypted, but " + next_path.string() +
        " could not replace node.keyring (any command with the new unlock finishes this)");
  }
  KH_RETURN_IF_ERROR(SyncDirectory(dir));
  return rotated;
}

Status Node::AdoptArchiveKey(const std::filesystem::path& dir, const Unlock& unlock,
                             const Hash& origin, const SymmetricKey& archive_key,
                             const ScryptParams& scrypt) {
  const bool encrypted = IsEncrypted(dir);
  if (encrypted && unlock.passphrase.empty() == unlock.key_file.empty()) {
    return Status::InvalidArgument(
        "the keyring is sealed again with the archive key: give its passphrase or key file "
        "(an unlock agent's key opens a keyring but cannot seal one)");
  }
  StoreOptions exclusive;
  exclusive.exclusive = true;
  auto node = Open(dir, exclusive, unlock);
  if (!node.ok()) {
    if (node.status().message().find("open in another process") != std::string::npos) {
      return node.status().Annotate("stop `khronika serve` (and every other command) first");
    }
    return node.status();
  }
  Node& n = **node;
  if (origin == n.id()) return Status::InvalidArgument("that is this node's own log");
  // 1. The adopted log is indexed first: harmless if the key change below never happens, and
  // the whole command can simply be run again.
  KH_RETURN_IF_ERROR(n.store().Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t own, LogSize(txn, n.id()));
    if (own > 0 && !ConstantTimeEqual(n.archive_key(), archive_key)) {
      return Status::InvalidArgument(
          "this node has already logged " + std::to_string(own) +
          " entries under its own archive key, which would become unreadable: recover into a "
          "node made for it (`khronika init`), before anything is submitted to it");
    }
    KH_ASSIGN_OR_RETURN(uint64_t theirs, LogSize(txn, origin));
    if (theirs == 0) {
      return Status::NotFound("no record of the log " + ToHex(origin) +
                              " is held here: sync it from a partner first (`khronika sync`)");
    }
    return AdoptLog(txn, origin, archive_key);
  }));
  if (ConstantTimeEqual(n.archive_key(), archive_key)) return Status::Ok();
  // 2. The archive key becomes the node's own.
  if (encrypted) {
    KH_ASSIGN_OR_RETURN(NodeSecrets secrets, OpenKeyring(KeyringPath(dir), unlock));
    secrets.archive_key = archive_key;
    Status st = WriteKeyring(KeyringPath(dir), secrets, unlock, /*replace=*/true, scrypt);
    OPENSSL_cleanse(secrets.data_key.data(), secrets.data_key.size());
    OPENSSL_cleanse(secrets.archive_key.data(), secrets.archive_key.size());
    return st;
  }
  const std::filesystem::path next = dir / "archive.key.next";
  std::error_code ec;
  std::filesystem::remove(next, ec);
  std::string hex = ToHex(archive_key) + "\n";
  Status written = WriteNewFile(next, hex, 0600);
  OPENSSL_cleanse(hex.data(), hex.size());
  KH_RETURN_IF_ERROR(written);
  if (::rename(next.c_str(), ArchiveKeyPath(dir).c_str()) != 0) {
    return ErrnoStatus("rename " + next.string());
  }
  return SyncDirectory(dir);
}

Result<std::unique_ptr<Node>> Node::Open(const std::filesystem::path& dir,
                                         const StoreOptions& options, const Unlock& unlock) {
  if (IsEncrypted(dir)) {
    KH_ASSIGN_OR_RETURN(KeyedStore opened, OpenKeyedStore(dir, options, unlock));
    OPENSSL_cleanse(opened.secrets.data_key.data(), opened.secrets.data_key.size());
    auto node = Finish(std::move(opened.store), std::move(opened.secrets.node_key),
                       std::move(opened.secrets.cosigner_key), opened.secrets.archive_key);
    OPENSSL_cleanse(opened.secrets.archive_key.data(), opened.secrets.archive_key.size());
    if (node.ok() && !options.read_only) {
      KH_RETURN_IF_ERROR(PurgeSealedUploads((*node)->store()).status());
    }
    return node;
  }
  if (!std::filesystem::exists(KeyPath(dir))) {
    return Status::NotFound("no node in " + dir.string() + " (run `khronika init --data " +
                            dir.string() + "` first)");
  }
  KH_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(KeyPath(dir), 16 * 1024));
  KH_ASSIGN_OR_RETURN(SigningKey key, SigningKey::FromPem(pem));
  bool had_cosigner = std::filesystem::exists(CosignerKeyPath(dir));
  KH_ASSIGN_OR_RETURN(SigningKey cosigner, LoadOrCreateCosigner(dir, !options.read_only));
  auto read_archive_key = ReadKeyFile(ArchiveKeyPath(dir));
  if (!read_archive_key.ok()) {
    return read_archive_key.status().Annotate(
        "the node's archive key (made by `init` since format 2; a node made before cannot be "
        "opened)");
  }
  SymmetricKey archive_key = *read_archive_key;
  OPENSSL_cleanse(read_archive_key->data(), read_archive_key->size());
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(StorePath(dir), options));
  auto finished = Finish(std::move(store), std::move(key), std::move(cosigner), archive_key);
  OPENSSL_cleanse(archive_key.data(), archive_key.size());
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, std::move(finished));
  // Never show a witness key that was made up for a read-only look and not kept.
  node->has_cosigner_ = had_cosigner || !options.read_only;
  // Upload chunks of entries appended just before a crash are deleted now (Log::Append records
  // them in its transaction and deletes them after the commit).
  if (!options.read_only) KH_RETURN_IF_ERROR(PurgeSealedUploads(node->store()).status());
  return node;
}

Result<std::string> Node::CheckIdentity(const Store& store, const SigningKey& key) {
  std::string name;
  Hash id = NodeIdFromPublicKey(key.public_key());
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto n, txn.Get(Table::kMeta, AsBytes(keys::kMetaNodeName)));
    KH_ASSIGN_OR_RETURN(auto origin, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
    if (!n || !origin) return Status::Corruption("store has no node identity");
    if (!ConstantTimeEqual(*origin, id)) {
      return Status::Corruption("the node key does not belong to this store (origin " +
                                ToHex(*origin) + ")");
    }
    name.assign(AsChars(*n));
    return Status::Ok();
  }));
  return name;
}

Result<std::unique_ptr<Node>> Node::Finish(std::unique_ptr<Store> store, SigningKey key,
                                           SigningKey cosigner, const SymmetricKey& archive_key) {
  KH_ASSIGN_OR_RETURN(std::string name, CheckIdentity(*store, key));
  return std::unique_ptr<Node>(new Node(std::move(store), std::move(key), std::move(cosigner),
                                        archive_key, std::move(name)));
}

}  // namespace khronika

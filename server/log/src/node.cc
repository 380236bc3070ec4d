#include "khronika/log/node.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

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

}  // namespace

Status Node::ChangeUnlock(const std::filesystem::path& dir, const Unlock& current,
                          const Unlock& next, const ScryptParams& scrypt) {
  if (!IsEncrypted(dir)) return Status::NotFound("the node in " + dir.string() + " is not encrypted");
  KH_ASSIGN_OR_RETURN(NodeSecrets secrets, OpenNodeKeyring(KeyringPath(dir), current));
  Status st = WriteKeyring(KeyringPath(dir), secrets, next, /*replace=*/true, scrypt);
  OPENSSL_cleanse(secrets.data_key.data(), secrets.data_key.size());
  OPENSSL_cleanse(secrets.archive_key.data(), secrets.archive_key.size());
  return st;
}

Result<std::unique_ptr<Node>> Node::Open(const std::filesystem::path& dir,
                                         const StoreOptions& options, const Unlock& unlock) {
  if (IsEncrypted(dir)) {
    // Everything that can refuse (a wrong passphrase above all) happens before the store opens.
    KH_ASSIGN_OR_RETURN(NodeSecrets secrets, OpenNodeKeyring(KeyringPath(dir), unlock));
    StoreOptions keyed = options;
    keyed.data_key = secrets.data_key;
    OPENSSL_cleanse(secrets.data_key.data(), secrets.data_key.size());
    auto store = Store::Open(StorePath(dir), keyed);
    OPENSSL_cleanse(keyed.data_key->data(), keyed.data_key->size());
    if (!store.ok()) {
      OPENSSL_cleanse(secrets.archive_key.data(), secrets.archive_key.size());
      return store.status();
    }
    auto node = Finish(std::move(store).value(), std::move(secrets.node_key),
                       std::move(secrets.cosigner_key), secrets.archive_key);
    OPENSSL_cleanse(secrets.archive_key.data(), secrets.archive_key.size());
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
  return node;
}

Result<std::unique_ptr<Node>> Node::Finish(std::unique_ptr<Store> store, SigningKey key,
                                           SigningKey cosigner, const SymmetricKey& archive_key) {
  std::string name;
  Hash id = NodeIdFromPublicKey(key.public_key());
  KH_RETURN_IF_ERROR(store->View([&](ReadTxn& txn) -> Status {
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
  return std::unique_ptr<Node>(new Node(std::move(store), std::move(key), std::move(cosigner),
                                        archive_key, std::move(name)));
}

}  // namespace khronika

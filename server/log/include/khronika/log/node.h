// A node's data directory. Encrypted (the default of `khronika init`): DIR/node.keyring (the
// data key, node key, witness key and archive key, sealed; keyring.h) and DIR/store/ (LMDB,
// every value encrypted). Unencrypted: DIR/node.key and DIR/cosigner.key (Ed25519, PKCS#8 PEM,
// mode 0600), DIR/archive.key (64 hex characters, mode 0600) and DIR/store/ in clear.
//
// The archive key (format 2, docs/format-2.md section 2) is random, made at init, and seals
// everything this node logs. Carrying it in `key export`, `init --keys` and `backup`, and
// splitting it among partners, are later steps (docs/format-2.md section 7).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "khronika/log/keyring.h"
#include "khronika/log/log.h"
#include "khronika/schemas/crypto.h"
#include "khronika/store/store.h"

namespace khronika {

struct NodeInitOptions {
  StoreOptions store;
  // Takes back an identity the node had before (after a raid or a disk failure).
  std::optional<SigningKey> node_key;
  std::optional<SigningKey> cosigner_key;
  std::optional<SymmetricKey> archive_key;  // default: a new random one
  // Encrypts the store under a new data key and keeps the three keys only in DIR/node.keyring,
  // sealed with this passphrase or key file. Without it: plain key files, store in clear.
  std::optional<Unlock> seal_with;
  ScryptParams scrypt;  // for a passphrase; tests use cheaper parameters
};

class Node {
 public:
  // Creates the directory, the node key and the store. AlreadyExists if DIR holds a node.
  // With `existing_key`, the node takes back an identity it had before (after a raid or a
  // disk failure): its own log is then pulled back from peers with `khronika sync`, and no
  // size-0 checkpoint is written, since the log it signed is not empty.
  static Result<std::unique_ptr<Node>> Init(const std::filesystem::path& dir, std::string_view name,
                                            NodeInitOptions options);
  static Result<std::unique_ptr<Node>> Init(const std::filesystem::path& dir, std::string_view name,
                                            const StoreOptions& options = {},
                                            std::optional<SigningKey> existing_key = std::nullopt);
  // Opens an existing node; NotFound if DIR holds none. An encrypted node needs `unlock` (or,
  // if it is locked with a key file, finds the key file where it was when sealed): a wrong
  // passphrase or key file is PermissionDenied before the store is touched.
  static Result<std::unique_ptr<Node>> Open(const std::filesystem::path& dir,
                                            const StoreOptions& options = {},
                                            const Unlock& unlock = {});
  // Re-seals DIR/node.keyring under `next` (a new passphrase, or a key file) after opening it
  // with `current`. The data key stays the same, so the store is not rewritten.
  static Status ChangeUnlock(const std::filesystem::path& dir, const Unlock& current,
                             const Unlock& next, const ScryptParams& scrypt = {});
  // Retires every earlier keyring of DIR: makes a new data key, re-encrypts the whole store
  // under it (Store::RotateDataKey, with `plan` giving the blinded keys their new form) and
  // seals the same node and witness keys with it under `next`. In order: the new keyring is
  // written to DIR/node.keyring.next; the store is re-encrypted (a copy renamed over it); the
  // new keyring is renamed over DIR/node.keyring. A crash in between leaves the store under one of
  // the two keys, and the next Open finishes (or discards) the rotation: it needs the unlock of
  // the keyring whose key the store is under (`next` once the store was re-encrypted). The store
  // is opened exclusively: while `khronika serve` or any command has it open, it is refused
  // with nothing changed. `at_step` (tests) hears "keyring written", "store re-encrypted"
  // (just before the commit) and "store committed".
  // Store::RenamePlan with the archive key, which opens the node's own entries (rekey.h).
  using KeyRenamePlan = std::function<Result<Store::KeyRenames>(
      const ReadTxn& txn, const std::function<Bytes(ByteView name)>& blind_next,
      const SymmetricKey& archive_key)>;
  static Result<Store::Rotation> RotateDataKey(
      const std::filesystem::path& dir, const Unlock& current, const Unlock& next,
      const KeyRenamePlan& plan, const StoreOptions& options = {},
      const ScryptParams& scrypt = {},
      const std::function<void(std::string_view step)>& at_step = nullptr);
  // After a recovery (docs/operator.md, "Recovery"): makes `archive_key`, the recovered archive
  // key of the destroyed node `origin` whose log is held here, this node's archive key, and
  // adopts that log (AdoptLog: its entries are read, served and exported as this node's own).
  // Only while this node's own log is empty, since what it sealed under its own archive key
  // would become unreadable. The store is opened exclusively (`serve` must be stopped). An
  // encrypted node's keyring is sealed again under `unlock`, a passphrase or a key file.
  static Status AdoptArchiveKey(const std::filesystem::path& dir, const Unlock& unlock,
                                const Hash& origin, const SymmetricKey& archive_key,
                                const ScryptParams& scrypt = {});
  // True if DIR holds a node, encrypted or not (or what is left of one: a key or a store).
  static bool Exists(const std::filesystem::path& dir);
  // True if DIR holds an encrypted node (a keyring).
  static bool IsEncrypted(const std::filesystem::path& dir);
  // How DIR's keyring is locked; NotFound for a node that is not encrypted.
  static Result<KeyringInfo> LockOf(const std::filesystem::path& dir);

  Store& store() { return *store_; }
  Log& log() { return *log_; }
  const SigningKey& key() const { return key_; }
  // The key that seals (and opens) everything this node logs; secret.
  const SymmetricKey& archive_key() const { return archive_key_; }
  const Hash& id() const { return id_; }
  const std::string& name() const { return name_; }
  std::string origin_name() const { return OriginName(id_); }
  // C2SP verifier key of the node's checkpoint signatures.
  std::string verifier_key() const;
  // The node's witness key, a separate Ed25519 key (DIR/cosigner.key) with which it cosigns
  // other nodes' checkpoints after verifying them (C2SP tlog-cosignature/v1).
  const SigningKey& cosigner_key() const { return cosigner_; }
  std::string cosigner_name() const { return WitnessName(id_); }
  std::string cosigner_verifier_key() const;

  bool encrypted() const { return store_->encrypted(); }

  static std::filesystem::path KeyPath(const std::filesystem::path& dir) { return dir / "node.key"; }
  static std::filesystem::path KeyringPath(const std::filesystem::path& dir) {
    return dir / "node.keyring";
  }
  // Present only while a data-key rotation runs, or after one was interrupted (RotateDataKey).
  static std::filesystem::path NextKeyringPath(const std::filesystem::path& dir) {
    return dir / "node.keyring.next";
  }
  static std::filesystem::path StorePath(const std::filesystem::path& dir) { return dir / "store"; }
  static std::filesystem::path CosignerKeyPath(const std::filesystem::path& dir) {
    return dir / "cosigner.key";
  }
  static std::filesystem::path ArchiveKeyPath(const std::filesystem::path& dir) {
    return dir / "archive.key";
  }
  ~Node();

 private:
  Node(std::unique_ptr<Store> store, SigningKey key, SigningKey cosigner,
       const SymmetricKey& archive_key, std::string name);
  static Result<SigningKey> LoadOrCreateCosigner(const std::filesystem::path& dir, bool create);
  static Result<std::unique_ptr<Node>> Finish(std::unique_ptr<Store> store, SigningKey key,
                                              SigningKey cosigner, const SymmetricKey& archive_key);
  // The node name, once the store is known to belong to `key`; Corruption if it does not.
  static Result<std::string> CheckIdentity(const Store& store, const SigningKey& key);
  std::unique_ptr<Store> store_;
  SigningKey key_;
  SigningKey cosigner_;
  SymmetricKey archive_key_{};  // before log_, which keeps a reference to it
  bool has_cosigner_ = true;  // false: an old node opened read-only, with no witness key yet
  Hash id_;
  std::string name_;
  std::unique_ptr<Log> log_;
};

}  // namespace khronika

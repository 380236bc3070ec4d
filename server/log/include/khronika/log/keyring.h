// The node's secrets, kept on disk only sealed: the data key (encryption at rest), the node's
// signing key and its witness key, in DIR/node.keyring (mode 0600), wrapped by a key derived
// from the operator's passphrase (scrypt) or by a key file that lives off the data disk.
// Changing the passphrase re-wraps these three keys; the store is not re-encrypted.
//
// File format (docs/format.md, "Keyring"):
//   "KHRKEYR1" || lock (u8: 1 passphrase, 2 key file) || hint length (u16 BE) || hint || body
//   lock 1: body = a sealed secret (seal.h: scrypt parameters and salt inside, its own header
//           as associated data)
//   lock 2: body = AES-256-GCM under the key file's 32 bytes, the header as associated data
// The hint is the key file's path when the keyring was written: where to look by default. It is
// not secret. The sealed secrets are JSON: {"format": "khronika-keyring/2", "data_key": hex,
// "node_key": PEM, "cosigner_key": PEM, "archive_key": hex}. The archive key (format 2) seals
// everything the node logs; `key export` (khronika-node-keys/2) and backups carry it too.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/seal.h"

namespace khronika {

// What opens (or seals) a keyring: a passphrase or a key file, exactly one. To open, also the
// keyring's own key (KeyringKey), as an unlock agent keeps it instead of the passphrase.
struct Unlock {
  std::string passphrase;
  std::filesystem::path key_file;
  std::optional<SymmetricKey> keyring_key = std::nullopt;  // opens only; never seals
  bool empty() const { return passphrase.empty() && key_file.empty() && !keyring_key; }
};

enum class LockKind : uint8_t { kPassphrase = 1, kKeyFile = 2 };

struct KeyringInfo {
  LockKind lock = LockKind::kPassphrase;
  std::filesystem::path key_file_hint;  // lock kKeyFile only
};

struct NodeSecrets {
  SymmetricKey data_key{};
  SigningKey node_key;
  SigningKey cosigner_key;
  SymmetricKey archive_key{};
};

// Reads the clear header only: how the keyring is locked.
Result<KeyringInfo> ReadKeyringInfo(const std::filesystem::path& path);
// PermissionDenied for a wrong passphrase or key file (or an altered keyring: the two cannot be
// told apart); InvalidArgument for a passphrase given to a key-file keyring or the reverse.
Result<NodeSecrets> OpenKeyring(const std::filesystem::path& path, const Unlock& unlock);
// The key that opens the keyring at `path` with `unlock` (a passphrase or a key file): for a
// passphrase, scrypt of it with this keyring's salt, which opens this keyring file and no other
// (a `passphrase change` seals with a new salt); for a key file, the key file's key. What an
// unlock agent holds instead of the passphrase. Not checked here: OpenKeyring checks it.
Result<SymmetricKey> KeyringKey(const std::filesystem::path& path, const Unlock& unlock);
// Writes the secrets sealed under `unlock` to `path` (mode 0600): a new file, or with `replace`
// an atomic replacement (a new file, fsynced, renamed over the old one).
Status WriteKeyring(const std::filesystem::path& path, const NodeSecrets& secrets,
                    const Unlock& unlock, bool replace, const ScryptParams& params = {});

// A new key file: 32 random bytes as 64 hex characters and a newline, mode 0600.
Status CreateKeyFile(const std::filesystem::path& path);
Result<SymmetricKey> ReadKeyFile(const std::filesystem::path& path);

}  // namespace khronika

// `khronika recovery …`: the offline recovery keys to which partners' shares of an archive key
// are sealed (docs/operator.md, "Recovery"). A recovery key never lives on a running node: it is
// written to a file sealed under its operator's passphrase, and the node keeps only the public
// half, so seizing a running partner yields no share.
#include <iostream>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "commands.h"
#include "passphrase.h"
#include "recovery_file.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/recovery.h"
#include "khronika/schemas/seal.h"
#include "khronika/store/files.h"

namespace khronika::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kBegin = "-----BEGIN KHRONIKA SEALED RECOVERY KEY-----\n";
constexpr std::string_view kEnd = "-----END KHRONIKA SEALED RECOVERY KEY-----\n";
constexpr std::string_view kFormat = "khronika-recovery-key/1";

const OptionSpec kData{"data"};
const OptionSpec kMapSize{"map-size"};

Status RunRecoveryKeygen(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string out, args.Require("out"));
  if (std::filesystem::exists(out)) {
    return Status::AlreadyExists(out + " exists: a recovery key is never overwritten");
  }
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  std::optional<std::string> existing;
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kMeta, AsBytes(keys::kMetaRecoveryPublicKey)));
    if (v) existing = std::string(AsChars(*v));
    return Status::Ok();
  }));
  if (existing && !args.Has("replace")) {
    return Status::AlreadyExists("this node already has the recovery key " + *existing +
                                 ": give --replace to make another (members must then learn "
                                 "the new one, and origins split their keys again)");
  }
  RecoveryKey key = RecoveryKey::Generate();
  const std::string pub = RecoveryPublicKeyToText(key.public_key());
  KH_ASSIGN_OR_RETURN(std::string passphrase,
                      ReadPassphrase(args, "new passphrase for " + out, /*confirm=*/true));
  Bytes raw = key.RawPrivate();
  std::string plain = json{{"format", kFormat},
                           {"node_id", ToHex(node->id())},
                           {"recovery_pubkey", pub},
                           {"private", ToHex(raw)}}
                          .dump();
  OPENSSL_cleanse(raw.data(), raw.size());
  auto sealed = SealWithPassphrase(AsBytes(plain), passphrase);
  OPENSSL_cleanse(plain.data(), plain.size());
  OPENSSL_cleanse(passphrase.data(), passphrase.size());
  if (!sealed.ok()) return sealed.status();
  std::string b64 = Base64Encode(*sealed), text(kBegin);
  for (size_t i = 0; i < b64.size(); i += 64) text += b64.substr(i, 64) + "\n";
  text += kEnd;
  KH_RETURN_IF_ERROR(WriteNewFile(out, text, 0600));
  KH_RETURN_IF_ERROR(node->store().Update([&](WriteTxn& txn) {
    return txn.Put(Table::kMeta, AsBytes(keys::kMetaRecoveryPublicKey), AsBytes(pub));
  }));
  std::cout << "recovery_pubkey " << pub << "\n";
  std::cerr << "wrote " << out << " (mode 0600), sealed under your passphrase (scrypt, "
            << "AES-256-GCM). Take it off this machine now: it must not be on a running node.\n"
            << "Give recovery_pubkey to every member (`khronika member add … --recovery-pubkey "
            << pub << "`); `khronika id` prints it too.\n";
  return Status::Ok();
}

}  // namespace

Result<RecoveryKeyFile> ReadRecoveryKeyFile(const Args& args, const std::string& path) {
  KH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, 16 * 1024));
  if (text.rfind(kBegin, 0) != 0 || text.find(kEnd) == std::string::npos) {
    return Status::InvalidArgument(path + " is not a file written by `khronika recovery keygen`");
  }
  std::string b64;
  for (char c : text.substr(kBegin.size(), text.find(kEnd) - kBegin.size())) {
    if (c != '\n') b64 += c;
  }
  KH_ASSIGN_OR_RETURN(Bytes sealed, Base64Decode(b64));
  KH_ASSIGN_OR_RETURN(std::string passphrase, ReadPassphrase(args, "passphrase of " + path, false));
  auto plain = OpenWithPassphrase(sealed, passphrase);
  OPENSSL_cleanse(passphrase.data(), passphrase.size());
  if (!plain.ok()) return plain.status();
  json j = json::parse(AsChars(*plain), nullptr, false);
  OPENSSL_cleanse(plain->data(), plain->size());
  if (!j.is_object() || j.value("format", "") != kFormat || !j["private"].is_string()) {
    return Status::InvalidArgument(path + ": unknown sealed content");
  }
  std::string hex = j["private"].get<std::string>();
  auto raw = FromHex(hex);
  OPENSSL_cleanse(hex.data(), hex.size());
  if (!raw.ok()) return Status::InvalidArgument(path + ": the private key is malformed");
  auto key = RecoveryKey::FromRaw(*raw);
  OPENSSL_cleanse(raw->data(), raw->size());
  if (!key.ok()) return key.status();
  auto node_id = ParseHashHex(j.value("node_id", ""));
  if (!node_id.ok()) return Status::InvalidArgument(path + ": the node id is malformed");
  if (RecoveryPublicKeyToText(key->public_key()) != j.value("recovery_pubkey", "")) {
    return Status::Corruption(path + ": the public key does not match the private key");
  }
  return RecoveryKeyFile{*node_id, std::move(*key)};
}

std::vector<Command> RecoveryCommands() {
  return {
      {"recovery keygen", "make this node's offline recovery key (X25519), sealed in a file",
       "khronika recovery keygen --data DIR --out FILE [--replace]\n"
       "Writes FILE (mode 0600) sealed under a new passphrase, and keeps only the public half\n"
       "in DIR, printed as recovery_pubkey (also by `khronika id`). Members seal their recovery\n"
       "shares to it (`member add … --recovery-pubkey KEY`); you open it only to release a share.\n"
       "Keep FILE off this machine, like a key export.",
       {kData, {"out"}, {"replace", false}, kPassphraseFd, kMapSize}, RunRecoveryKeygen},
  };
}

}  // namespace khronika::cli

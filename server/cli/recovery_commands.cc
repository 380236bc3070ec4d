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
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/roster.h"
#include "khronika/schemas/recovery.h"
#include "khronika/schemas/recovery_objects.h"
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


Result<Hash> HashOption(const Args& args, const std::string& name) {
  KH_ASSIGN_OR_RETURN(std::string text, args.Require(name));
  auto h = ParseHashHex(text);
  if (!h.ok()) return UsageError("--" + name + " takes a node id (64 lowercase hex characters)");
  return *h;
}

// The most recent RecoverySet in `origin`'s log as held here, with its id.
Result<std::pair<Hash, RecoverySet>> LatestRecoverySet(const ReadTxn& txn, const Hash& origin) {
  KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, origin));
  for (uint64_t i = size; i-- > 0;) {
    KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, origin, i));
    KH_ASSIGN_OR_RETURN(uint8_t type, PeekObjectType(logged.object_bytes));
    if (type != kTypeRecoverySet) continue;
    KH_ASSIGN_OR_RETURN(RecoverySet set, DecodeRecoverySet(logged.object_bytes));
    return std::make_pair(logged.record.object_id, std::move(set));
  }
  return Status::NotFound("no recovery set of " + ToHex(origin) + " is held here" +
                          (size == 0 ? " (nothing of its log is: sync first)"
                                     : ": its operator has not run `khronika recovery split`"));
}

// ---- recovery split ----
Status RunRecoverySplit(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string k_text, args.Require("k"));
  char* end = nullptr;
  const long k = std::strtol(k_text.c_str(), &end, 10);
  if (end == k_text.c_str() || *end != 0 || k < 1 || k > 255) {
    return UsageError("--k takes a number from 2 to 255");
  }
  if (k < 2) {
    return Status::InvalidArgument(
        "--k 1 would let any one partner read every case of this node: choose at least 2, and "
        "more than half of the partners (docs/operator.md, \"Recovery\")");
  }
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(std::vector<Member> members, ListMembers(node->store()));
  std::vector<ShareRecipient> to;
  std::vector<std::string> without_key;
  for (const Member& m : members) {
    if (m.removed || m.node_id == node->id()) continue;
    if (!m.recovery_key) {
      without_key.push_back(ToHex(m.node_id).substr(0, 16));
      continue;
    }
    to.push_back({m.node_id, *m.recovery_key});
  }
  if (to.size() < static_cast<size_t>(k)) {
    std::string missing;
    for (const std::string& id : without_key) missing += " " + id;
    return Status::InvalidArgument(
        "only " + std::to_string(to.size()) + " member(s) have a recovery key here, fewer than "
        "--k " + std::to_string(k) + (missing.empty() ? "" : "; without one:" + missing) +
        ": each partner runs `khronika recovery keygen` and you `khronika member add … "
        "--recovery-pubkey KEY`");
  }
  KH_ASSIGN_OR_RETURN(RecoverySet set,
                      MakeRecoverySet(node->id(), node->archive_key(), static_cast<unsigned>(k), to));
  KH_ASSIGN_OR_RETURN(Receipt logged, node->log().AppendCustodyObject(Encode(set)));
  KH_RETURN_IF_ERROR(RecordOperatorAct(
      *node, "recovery-split",
      "recovery set " + ToHex(logged.entry_id).substr(0, 16) + ": " + std::to_string(k) + " of " +
          std::to_string(set.holders.size()) + " partners"));
  if (args.Has("json")) {
    json holders = json::array();
    for (const ShareHolder& h : set.holders) holders.push_back(ToHex(h.node_id));
    std::cout << json{{"recovery_set", ToHex(logged.entry_id)},
                      {"index", logged.index},
                      {"k", k},
                      {"holders", holders}}
                     .dump()
              << "\n";
  } else {
    std::cout << "recovery set " << ToHex(logged.entry_id) << " logged at index " << logged.index
              << ": any " << k << " of " << set.holders.size() << " partners can recover\n";
  }
  if (static_cast<size_t>(k) * 2 <= set.holders.size()) {
    std::cerr << "note: " << k << " of " << set.holders.size()
              << " lets a minority of partners, seized or colluding, recover the key; more "
                 "than half is safer\n";
  }
  if (!without_key.empty()) {
    std::cerr << without_key.size() << " member(s) without a recovery key got no share\n";
  }
  return Status::Ok();
}

// ---- recovery release ----
Status RunRecoveryRelease(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string key_path, args.Require("recovery-key"));
  KH_ASSIGN_OR_RETURN(Hash origin, HashOption(args, "origin"));
  KH_ASSIGN_OR_RETURN(Hash to, HashOption(args, "to"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  if (origin == node->id()) return Status::InvalidArgument("--origin is this node itself");
  if (to == node->id() || to == origin) {
    return Status::InvalidArgument("--to must be the node rebuilt for the origin");
  }
  std::optional<X25519PublicKey> to_key;
  if (auto text = args.Get("to-pubkey")) {
    auto parsed = ParseRecoveryPublicKey(*text);
    if (!parsed.ok()) return UsageError("--to-pubkey takes x25519:<64 hex> (`khronika id`)");
    to_key = *parsed;
  }
  std::pair<Hash, RecoverySet> set;
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(set, LatestRecoverySet(txn, origin));
    return Status::Ok();
  }));
  if (!to_key) {
    KH_ASSIGN_OR_RETURN(std::vector<Member> members, ListMembers(node->store()));
    for (const Member& m : members) {
      if (m.node_id == to && !m.removed) to_key = m.recovery_key;
    }
    if (!to_key) {
      return Status::InvalidArgument(
          "no recovery key is known here for " + ToHex(to) +
          ": give --to-pubkey (the rebuilt node's `khronika id` prints it), after checking it "
          "with its operator by another channel");
    }
  }
  KH_ASSIGN_OR_RETURN(RecoveryKeyFile mine, ReadRecoveryKeyFile(args, key_path));
  if (mine.node_id != node->id()) {
    return Status::InvalidArgument(key_path + " is the recovery key of another node (" +
                                   ToHex(mine.node_id) + ")");
  }
  KH_ASSIGN_OR_RETURN(SecretShare share, OpenOwnShare(set.second, origin, node->id(), mine.key));
  KH_ASSIGN_OR_RETURN(ShareRelease release,
                      MakeShareRelease(origin, set.first, share, {to, *to_key}));
  KH_ASSIGN_OR_RETURN(Receipt logged, node->log().AppendCustodyObject(Encode(release)));
  KH_RETURN_IF_ERROR(RecordOperatorAct(*node, "recovery-release",
                                       "share of origin " + ToHex(origin) + " released to " +
                                           ToHex(to)));
  std::cout << "released this node's share of " << ToHex(origin) << "'s archive key to "
            << ToHex(to) << ": share release " << ToHex(logged.entry_id) << " logged at index "
            << logged.index << " of this node's log\n";
  std::cerr << "the rebuilt node receives it when it syncs this node's log; it needs "
            << static_cast<int>(set.second.threshold) << " releases in all\n";
  return Status::Ok();
}

// ---- recovery combine ----
Status RunRecoveryCombine(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string key_path, args.Require("recovery-key"));
  KH_ASSIGN_OR_RETURN(Hash origin, HashOption(args, "origin"));
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  KH_ASSIGN_OR_RETURN(RecoveryKeyFile mine, ReadRecoveryKeyFile(args, key_path));
  std::optional<SymmetricKey> archive_key;
  size_t releases = 0;
  {
    KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, true));
    if (mine.node_id != node->id()) {
      return Status::InvalidArgument(key_path + " is the recovery key of another node (" +
                                     ToHex(mine.node_id) + ")");
    }
    KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto set, LatestRecoverySet(txn, origin));
      // Every release addressed to this node, in every log held here.
      std::vector<SecretShare> shares;
      KH_RETURN_IF_ERROR(txn.Scan(Table::kRecords, {}, [&](ByteView key, ByteView value) -> Result<bool> {
        KH_ASSIGN_OR_RETURN(Record rec, DecodeRecord(value));
        // Objects are kept at their record's place (keys::Object is the record's key).
        KH_ASSIGN_OR_RETURN(auto object, txn.Get(Table::kObjects, key));
        if (!object || ObjectId(*object) != rec.object_id) return true;
        auto type = PeekObjectType(*object);
        if (!type.ok() || *type != kTypeShareRelease) return true;
        KH_ASSIGN_OR_RETURN(ShareRelease release, DecodeShareRelease(*object));
        if (release.origin != origin || release.recipient != node->id() ||
            release.recovery_set != set.first) {
          return true;
        }
        auto share = OpenShareRelease(release, mine.key);
        if (!share.ok()) {
          std::cerr << "a release in the log of " << ToHex(rec.origin).substr(0, 16)
                    << " does not open with this recovery key: ignored\n";
          return true;
        }
        shares.push_back(std::move(*share));
        return true;
      }));
      releases = shares.size();
      if (shares.size() < set.second.threshold) {
        return Status::NotFound(
            "this node holds " + std::to_string(shares.size()) + " release(s) of " +
            ToHex(origin) + "'s key, and " + std::to_string(set.second.threshold) +
            " are needed: ask more partners to run `khronika recovery release`, then "
            "`khronika sync` their logs here");
      }
      KH_ASSIGN_OR_RETURN(SymmetricKey key, RecoverArchiveKey(set.second, shares));
      archive_key = key;
      OPENSSL_cleanse(key.data(), key.size());
      return Status::Ok();
    }));
  }
  KH_ASSIGN_OR_RETURN(Unlock unlock, UnlockFrom(args, dir));
  // Sealing the keyring again takes its secret, not an unlock agent's key: a node locked with a
  // key file uses the one its keyring remembers, as every command does without --key-file.
  if (Node::IsEncrypted(dir) && unlock.passphrase.empty() && unlock.key_file.empty()) {
    KH_ASSIGN_OR_RETURN(KeyringInfo info, Node::LockOf(dir));
    if (info.lock == LockKind::kKeyFile) unlock.key_file = info.key_file_hint;
  }
  Status adopted = Node::AdoptArchiveKey(dir, unlock, origin, *archive_key);
  OPENSSL_cleanse(archive_key->data(), archive_key->size());
  OPENSSL_cleanse(unlock.passphrase.data(), unlock.passphrase.size());
  KH_RETURN_IF_ERROR(adopted);
  std::cout << "recovered the archive key of " << ToHex(origin) << " from " << releases
            << " released shares: this node now reads, serves and exports that log's "
               "entries, and seals its own under the same key\n";
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
  KH_ASSIGN_OR_RETURN(std::string passphrase,
                      ReadPassphrase(args, "passphrase of " + path, false, "recovery-passphrase-fd"));
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
      {"recovery split", "split this node's archive key k-of-n among its partners, in its log",
       "khronika recovery split --data DIR --k K [--json]\n"
       "Splits the archive key (Shamir, K of n) among every member with a recovery key, each\n"
       "share sealed to that member's recovery key, and logs the set in this node's own log, so\n"
       "that every partner holds it. Any K partners together can give the key to a node rebuilt\n"
       "after this one and its key export are lost; K-1 learn nothing. Choose K above half.",
       {kData, {"k"}, {"json", false}, kMapSize}, RunRecoverySplit},
      {"recovery release", "release this node's share of a lost origin's key to its new node",
       "khronika recovery release --data DIR --recovery-key FILE --origin O --to NODE_ID\n"
       "                          [--to-pubkey x25519:HEX] [--recovery-passphrase-fd N]\n"
       "Opens this node's share of O's archive key with the offline recovery key FILE and seals\n"
       "it to the rebuilt node NODE_ID's recovery key (from the roster, or --to-pubkey), as a\n"
       "custody event in this node's own log. Do it only after confirming, by another channel,\n"
       "that O is lost and NODE_ID is its operator's new node.",
       {kData, {"recovery-key"}, {"origin"}, {"to"}, {"to-pubkey"}, kRecoveryPassphraseFd,
        kMapSize},
       RunRecoveryRelease},
      {"recovery combine", "recover a lost origin's archive key from released shares",
       "khronika recovery combine --data DIR --recovery-key FILE --origin O\n"
       "                          [--recovery-passphrase-fd N]\n"
       "On the node rebuilt for O, after syncing the partners' logs: opens the releases\n"
       "addressed to it with its recovery key FILE, combines K of them into O's archive key, and\n"
       "adopts O's log (this node then reads, serves and exports it). Stop `serve` first; the\n"
       "node must not have logged entries of its own yet.",
       {kData, {"recovery-key"}, {"origin"}, kRecoveryPassphraseFd, kMapSize}, RunRecoveryCombine},
  };
}

}  // namespace khronika::cli

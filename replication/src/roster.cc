#include "khronika/replication/roster.h"

#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

using nlohmann::json;

constexpr std::string_view kMemberPrefix = "member/";

Bytes MemberMetaKey(const Hash& origin) {
  Bytes k(kMemberPrefix.begin(), kMemberPrefix.end());
  k.insert(k.end(), origin.begin(), origin.end());
  return k;
}

Bytes PeerStatusKey(const Hash& node_id) {
  std::string prefix = "peer_status/";
  Bytes k(prefix.begin(), prefix.end());
  k.insert(k.end(), node_id.begin(), node_id.end());
  return k;
}

Result<Peer> PeerFromJson(ByteView key, ByteView value) {
  json j = json::parse(AsChars(value), nullptr, false);
  if (j.is_discarded() || key.size() != 32) return Status::Corruption("peer record is malformed");
  Peer p;
  std::copy(key.begin(), key.end(), p.node_id.begin());
  p.url = j.value("url", "");
  p.cert_sha256 = j.value("cert_sha256", "");
  p.serve_only = j.value("serve_only", false);  // absent in peers added before it existed
  return p;
}

}  // namespace

Result<Member> AddMember(Store& store, std::string_view vkey, std::string_view cosigner_vkey,
                         std::string_view recovery_pubkey) {
  KH_ASSIGN_OR_RETURN(NoteVerifier v, ParseVerifierKey(vkey));
  Member m;
  m.key = v.key;
  m.node_id = NodeIdFromPublicKey(v.key);
  if (v.name != OriginName(m.node_id)) {
    return Status::InvalidArgument("a member's verifier key must be named khronika/<node id>, "
                                   "as `khronika id` prints it");
  }
  m.vkey = std::string(vkey);
  if (!cosigner_vkey.empty()) {
    KH_ASSIGN_OR_RETURN(NoteVerifier c, ParseCosignerVerifierKey(cosigner_vkey));
    if (c.name != WitnessName(m.node_id)) {
      return Status::InvalidArgument("a member's witness key must be named " + WitnessName(m.node_id));
    }
    m.cosigner_vkey = std::string(cosigner_vkey);
  }
  if (!recovery_pubkey.empty()) {
    KH_ASSIGN_OR_RETURN(m.recovery_key, ParseRecoveryPublicKey(recovery_pubkey));
  }
  KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kOrigins, m.node_id, m.key));
    // Adding a member again without its witness or recovery key keeps the one already known.
    KH_ASSIGN_OR_RETURN(auto existing, txn.Get(Table::kMeta, MemberMetaKey(m.node_id)));
    json before = existing ? json::parse(AsChars(*existing), nullptr, false) : json::object();
    if (!before.is_object()) before = json::object();
    if (m.cosigner_vkey.empty()) m.cosigner_vkey = before.value("cosigner_vkey", "");
    json meta = {{"vkey", m.vkey}, {"cosigner_vkey", m.cosigner_vkey}};
    if (m.recovery_key) {
      meta["recovery_pubkey"] = RecoveryPublicKeyToText(*m.recovery_key);
    } else if (before.contains("recovery_pubkey")) {
      meta["recovery_pubkey"] = before["recovery_pubkey"];
    }
    return txn.Put(Table::kMeta, MemberMetaKey(m.node_id), AsBytes(meta.dump()));
  }));
  return m;
}

Result<std::vector<Member>> ListMembers(Store& store) {
  std::vector<Member> out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) {
    return txn.Scan(Table::kOrigins, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      if (key.size() != 32 || value.size() != 32) return Status::Corruption("roster entry malformed");
      Member m;
      std::copy(key.begin(), key.end(), m.node_id.begin());
      std::copy(value.begin(), value.end(), m.key.begin());
      m.vkey = FormatVerifierKey("khronika/" + ToHex(m.node_id), m.key);
      KH_ASSIGN_OR_RETURN(auto meta, txn.Get(Table::kMeta, MemberMetaKey(m.node_id)));
      if (meta) {
        json j = json::parse(AsChars(*meta), nullptr, false);
        if (j.is_object()) {
          m.cosigner_vkey = j.value("cosigner_vkey", "");
          m.removed = j.value("removed", false);
          if (auto r = ParseRecoveryPublicKey(j.value("recovery_pubkey", "")); r.ok()) {
            m.recovery_key = *r;
          }
        }
      }
      out.push_back(std::move(m));
      return true;
    });
  }));
  return out;
}

Status RemoveMember(Store& store, const Hash& node_id) {
  return store.Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto local, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
    if (local && local->size() == 32 && std::equal(local->begin(), local->end(), node_id.begin())) {
      return Status::InvalidArgument("this node cannot remove itself from its own roster");
    }
    KH_ASSIGN_OR_RETURN(bool member, txn.Contains(Table::kOrigins, node_id));
    if (!member) return Status::NotFound("node " + ToHex(node_id) + " is not a member here");
    bool held = false;
    KH_RETURN_IF_ERROR(txn.Scan(Table::kRecords, node_id, [&](ByteView, ByteView) -> Result<bool> {
      held = true;
      return false;
    }));
    if (!held) {
      KH_RETURN_IF_ERROR(txn.Delete(Table::kOrigins, node_id));
      return txn.Delete(Table::kMeta, MemberMetaKey(node_id));
    }
    KH_ASSIGN_OR_RETURN(auto meta, txn.Get(Table::kMeta, MemberMetaKey(node_id)));
    json j = meta ? json::parse(AsChars(*meta), nullptr, false) : json::object();
    if (!j.is_object()) j = json::object();
    j["removed"] = true;
    return txn.Put(Table::kMeta, MemberMetaKey(node_id), AsBytes(j.dump()));
  });
}

Result<std::optional<PublicKey>> MemberKey(const ReadTxn& txn, const Hash& origin) {
  KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kOrigins, origin));
  if (!v) return std::optional<PublicKey>();
  KH_ASSIGN_OR_RETURN(auto meta, txn.Get(Table::kMeta, MemberMetaKey(origin)));
  if (meta) {
    json j = json::parse(AsChars(*meta), nullptr, false);
    if (j.is_object() && j.value("removed", false)) return std::optional<PublicKey>();
  }
  if (v->size() != 32) return Status::Corruption("roster key of " + ToHex(origin) + " is malformed");
  PublicKey k;
  std::copy(v->begin(), v->end(), k.begin());
  if (NodeIdFromPublicKey(k) != origin) {
    return Status::Corruption("roster key of " + ToHex(origin) + " does not match the id");
  }
  return std::optional<PublicKey>(k);
}

Status AddPeer(Store& store, const Peer& peer) {
  if (peer.url.empty() && !peer.serve_only) {
    return Status::InvalidArgument("a peer this node pulls from needs a URL (https://HOST:PORT)");
  }
  if (!peer.url.empty() && peer.url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("peer URL must start with https://");
  }
  KH_ASSIGN_OR_RETURN(Hash fp, ParseHashHex(peer.cert_sha256));
  (void)fp;
  json j = {{"url", peer.url}, {"cert_sha256", peer.cert_sha256}};
  if (peer.serve_only) j["serve_only"] = true;
  return store.Update([&](WriteTxn& txn) -> Status {
    KH_RETURN_IF_ERROR(txn.Put(Table::kPeers, peer.node_id, AsBytes(j.dump())));
    // A peer that was pulled from before keeps no stale "last success" or lag once it is not.
    if (peer.serve_only) return txn.Delete(Table::kMeta, PeerStatusKey(peer.node_id));
    return Status::Ok();
  });
}

Status RemovePeer(Store& store, const Hash& node_id) {
  return store.Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(bool present, txn.Contains(Table::kPeers, node_id));
    if (!present) return Status::NotFound("no peer " + ToHex(node_id));
    return txn.Delete(Table::kPeers, node_id);
  });
}

Result<std::vector<Peer>> ListPeers(Store& store) {
  std::vector<Peer> out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) {
    return txn.Scan(Table::kPeers, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      KH_ASSIGN_OR_RETURN(Peer p, PeerFromJson(key, value));
      out.push_back(std::move(p));
      return true;
    });
  }));
  return out;
}

Result<std::optional<Peer>> PeerByCertificate(const ReadTxn& txn, std::string_view cert_sha256) {
  std::optional<Peer> found;
  if (cert_sha256.size() != 64) return found;
  KH_RETURN_IF_ERROR(txn.Scan(Table::kPeers, {}, [&](ByteView key, ByteView value) -> Result<bool> {
    KH_ASSIGN_OR_RETURN(Peer p, PeerFromJson(key, value));
    if (ConstantTimeEqual(AsBytes(p.cert_sha256), AsBytes(cert_sha256))) {
      found = std::move(p);
      return false;
    }
    return true;
  }));
  return found;
}

Status RecordPeerStatus(Store& store, const Hash& node_id, const PeerStatus& s) {
  json j = {{"last_attempt_ms", s.last_attempt_ms}, {"last_success_ms", s.last_success_ms},
            {"lag_records", s.lag_records}, {"last_error", s.last_error}};
  return store.Update([&](WriteTxn& txn) {
    return txn.Put(Table::kMeta, PeerStatusKey(node_id), AsBytes(j.dump()));
  });
}

Result<std::optional<PeerStatus>> GetPeerStatus(Store& store, const Hash& node_id) {
  std::optional<PeerStatus> out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kMeta, PeerStatusKey(node_id)));
    if (!v) return Status::Ok();
    json j = json::parse(AsChars(*v), nullptr, false);
    if (!j.is_object()) return Status::Corruption("peer status is malformed");
    PeerStatus s;
    s.last_attempt_ms = j.value("last_attempt_ms", int64_t{0});
    s.last_success_ms = j.value("last_success_ms", int64_t{0});
    s.lag_records = j.value("lag_records", uint64_t{0});
    s.last_error = j.value("last_error", "");
    out = s;
    return Status::Ok();
  }));
  return out;
}

}  // namespace khronika

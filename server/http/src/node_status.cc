#include "khronika/http/node_status.h"

#include "khronika/replication/roster.h"
#include "khronika/replication/scrub.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"

namespace khronika {

using nlohmann::json;

Result<json> NodeStatusJson(Node& node) {
  KH_ASSIGN_OR_RETURN(std::vector<Member> members, ListMembers(node.store()));
  KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node.store()));
  KH_ASSIGN_OR_RETURN(std::vector<Conflict> conflicts, ListConflicts(node.store()));
  json logs = json::array();
  KH_RETURN_IF_ERROR(node.store().View([&](ReadTxn& txn) -> Status {
    for (const Member& m : members) {
      KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, m.node_id));
      json log = {{"origin", ToHex(m.node_id)}, {"records", size}, {"local", m.node_id == node.id()},
                  {"checkpoint_size", nullptr}, {"cosigners", json::array()}};
      KH_ASSIGN_OR_RETURN(auto last, LatestHeldCheckpoint(txn, m.node_id));
      if (last) {
        const uint64_t cp_size = last->size;
        log["checkpoint_size"] = cp_size;
        KH_ASSIGN_OR_RETURN(auto cosigs, VerifiedCosignatures(txn, m.node_id, cp_size));
        for (const auto& c : cosigs) log["cosigners"].push_back(ToHex(c.member));
        // External C2SP witnesses (khronika.conf `witness =`) cosign this node's own log only,
        // shown apart from the partners'.
        if (m.node_id == node.id()) {
          KH_ASSIGN_OR_RETURN(auto ext, VerifiedExternalCosignatures(txn, m.node_id, cp_size));
          json names = json::array();
          for (const auto& c : ext) names.push_back(c.name);
          log["external_witnesses"] = names;
        }
      }
      logs.push_back(log);
    }
    return Status::Ok();
  }));
  json peer_list = json::array();
  for (const Peer& p : peers) {
    json pj = {{"node_id", ToHex(p.node_id)}, {"url", p.url}, {"serve_only", p.serve_only}};
    // A serve-only peer is never pulled from: it has no pull to report.
    std::optional<PeerStatus> st;
    if (!p.serve_only) {
      KH_ASSIGN_OR_RETURN(st, GetPeerStatus(node.store(), p.node_id));
    }
    if (st) {
      pj["last_attempt_ms"] = st->last_attempt_ms;
      pj["last_success_ms"] = st->last_success_ms;
      pj["lag_records"] = st->lag_records;
      pj["last_error"] = st->last_error;
    }
    peer_list.push_back(pj);
  }
  Store::Usage usage = node.store().GetUsage();
  KH_ASSIGN_OR_RETURN(std::optional<ScrubSummary> scrub, LastScrub(node.store()));
  json scrub_json = nullptr;
  if (scrub) {
    scrub_json = {{"finished_ms", scrub->finished_ms}, {"checked", scrub->checked},
                  {"damaged", scrub->damaged},         {"repaired", scrub->repaired},
                  {"unrepaired", scrub->unrepaired},   {"unrepaired_items", scrub->unrepaired_items}};
  }
  return json{{"node_id", ToHex(node.id())},
              {"last_scrub", scrub_json},
              {"name", node.name()},
              {"logs", logs},
              {"peers", peer_list},
              {"conflicts", conflicts.size()},
              {"store_used_bytes", usage.used_bytes},
              {"store_map_bytes", usage.map_size}};
}

Result<json> LogsJson(Node& node) {
  json local = json::array(), others = json::array();
  KH_RETURN_IF_ERROR(node.store().View([&](ReadTxn& txn) -> Status {
    return txn.Scan(Table::kOrigins, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      if (key.size() != 32) return Status::Corruption("an origins key is not 32 bytes");
      Hash origin;
      std::copy(key.begin(), key.end(), origin.begin());
      KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, origin));
      json log = {{"origin", ToHex(origin)},
                  {"local", origin == node.id()},
                  {"records", size},
                  {"public_key", ToHex(value)},
                  {"checkpoint_size", nullptr},
                  {"checkpoint", nullptr},
                  {"cosignatures", json::array()}};
      KH_ASSIGN_OR_RETURN(auto last, LatestHeldCheckpoint(txn, origin));
      if (last) {
        const uint64_t cp_size = last->size;
        log["checkpoint_size"] = cp_size;
        KH_ASSIGN_OR_RETURN(log["checkpoint"], CheckpointWithCosignatures(txn, origin, cp_size));
        KH_ASSIGN_OR_RETURN(auto cosigs, VerifiedCosignatures(txn, origin, cp_size));
        for (const auto& c : cosigs) {
          log["cosignatures"].push_back({{"member", ToHex(c.member)}, {"name", c.name},
                                         {"vkey", c.vkey}, {"timestamp", c.timestamp}});
        }
      }
      (origin == node.id() ? local : others).push_back(std::move(log));
      return true;
    });
  }));
  for (json& l : others) local.push_back(std::move(l));
  return local;
}

Result<json> ConflictsJson(Node& node) {
  KH_ASSIGN_OR_RETURN(std::vector<Conflict> conflicts, ListConflicts(node.store()));
  json out = json::array();
  for (const Conflict& c : conflicts) {
    out.push_back({{"origin", ToHex(c.origin)}, {"detected_ms", c.detected_ms},
                   {"proven", c.proven}, {"held_checkpoint", c.ours},
                   {"presented_checkpoint", c.theirs}});
  }
  return out;
}

}  // namespace khronika

// Subcommands of the federation: member, peer, sync, and status.
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "khronika/http/peer_transport.h"
#include "khronika/http/tls.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"

namespace khronika::cli {
namespace {

using nlohmann::json;

const OptionSpec kData{"data"};
const OptionSpec kMapSize{"map-size"};
const OptionSpec kJson{"json", false};

Result<std::unique_ptr<Node>> Open(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  StoreOptions o;
  KH_ASSIGN_OR_RETURN(o.map_size, args.GetUnsigned("map-size", o.map_size));
  return Node::Open(dir, o);
}

Result<Hash> NodeIdArg(const std::string& text, const char* what) {
  auto h = ParseHashHex(text);
  if (!h.ok()) return UsageError(std::string(what) + ": " + h.status().message());
  return *h;
}

Status RunMemberAdd(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string vkey, args.Require("vkey"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Open(args));
  KH_ASSIGN_OR_RETURN(Member m, AddMember(node->store(), vkey, args.Get("cosigner-vkey").value_or("")));
  std::cout << "member " << ToHex(m.node_id) << " added: its log will be accepted and kept\n";
  return Status::Ok();
}

Status RunMemberList(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Open(args));
  KH_ASSIGN_OR_RETURN(std::vector<Member> members, ListMembers(node->store()));
  for (const Member& m : members) {
    bool self = m.node_id == node->id();
    if (args.Has("json")) {
      std::cout << json{{"node_id", ToHex(m.node_id)}, {"vkey", m.vkey},
                        {"cosigner_vkey", m.cosigner_vkey}, {"self", self}}.dump() << "\n";
    } else {
      std::cout << ToHex(m.node_id) << (self ? "  (this node)" : "") << "\n";
    }
  }
  return Status::Ok();
}

Status RunPeerAdd(const Args& args) {
  Peer p;
  KH_ASSIGN_OR_RETURN(p.url, args.Require("url"));
  KH_ASSIGN_OR_RETURN(std::string id, args.Require("id"));
  KH_ASSIGN_OR_RETURN(p.node_id, NodeIdArg(id, "--id"));
  KH_ASSIGN_OR_RETURN(std::string fp, args.Require("cert-sha256"));
  auto normalized = NormalizeFingerprint(fp);
  if (!normalized.ok()) return UsageError("--cert-sha256: " + normalized.status().message());
  p.cert_sha256 = *normalized;
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Open(args));
  KH_RETURN_IF_ERROR(AddPeer(node->store(), p));
  std::cout << "peer " << id << " at " << p.url << " added (certificate sha256:" << p.cert_sha256 << ")\n";
  return Status::Ok();
}

Status RunPeerList(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Open(args));
  KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node->store()));
  for (const Peer& p : peers) {
    if (args.Has("json")) {
      std::cout << json{{"node_id", ToHex(p.node_id)}, {"url", p.url}, {"cert_sha256", p.cert_sha256}}.dump() << "\n";
    } else {
      std::cout << ToHex(p.node_id) << "  " << p.url << "  sha256:" << p.cert_sha256 << "\n";
    }
  }
  return Status::Ok();
}

Status RunPeerRemove(const Args& args) {
  if (args.positional().size() != 1) return UsageError("peer remove takes one NODE_ID");
  KH_ASSIGN_OR_RETURN(Hash id, NodeIdArg(args.positional()[0], "NODE_ID"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Open(args));
  KH_RETURN_IF_ERROR(RemovePeer(node->store(), id));
  std::cout << "peer " << ToHex(id) << " removed\n";
  return Status::Ok();
}

Status RunSync(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  std::optional<Hash> only;
  if (auto p = args.Get("peer")) {
    KH_ASSIGN_OR_RETURN(only, NodeIdArg(*p, "--peer"));
  }
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Open(args));
  KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node->store()));
  std::string cert = (std::filesystem::path(dir) / "tls.crt").string();
  std::string key = (std::filesystem::path(dir) / "tls.key").string();
  bool all_ok = true, any = false;
  for (const Peer& peer : peers) {
    if (only && peer.node_id != *only) continue;
    any = true;
    std::string name = ToHex(peer.node_id).substr(0, 16);
    auto transport = HttpsPeerTransport::Connect(peer, cert, key);
    if (!transport.ok()) {
      std::cout << "peer " << name << ": unreachable: " << transport.status().message() << "\n";
      all_ok = false;
      continue;
    }
    Witness witness{node->cosigner_name(), &node->cosigner_key()};
    auto report = PullFromPeer(node->store(), **transport, &witness);
    if (!report.ok()) {
      std::cout << "peer " << name << ": " << report.status().ToString() << "\n";
      all_ok = false;
      continue;
    }
    for (const LogSyncResult& l : report->logs) {
      std::cout << "peer " << name << " log " << ToHex(l.origin).substr(0, 16) << ": ";
      if (l.status.ok()) {
        std::cout << (l.to > l.from ? "received records " + std::to_string(l.from) + " to " +
                                          std::to_string(l.to - 1) + " (" +
                                          std::to_string(l.chunks_fetched) + " chunks)"
                                    : "up to date at " + std::to_string(l.to) + " records")
                  << (l.cosigned ? "; cosigned" : "") << "\n";
      } else {
        all_ok = false;
        std::cout << (l.conflict ? "CONFLICT: " : "failed: ") << l.status.message()
                  << (l.to > l.from ? " (kept records up to " + std::to_string(l.to) + ")" : "")
                  << "\n";
      }
    }
  }
  if (only && !any) return Status::NotFound("no peer " + ToHex(*only));
  if (!all_ok) return Status::IOError("some logs did not sync; see above");
  return Status::Ok();
}

Status RunStatus(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Open(args));
  KH_ASSIGN_OR_RETURN(std::vector<Member> members, ListMembers(node->store()));
  KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node->store()));
  KH_ASSIGN_OR_RETURN(std::vector<Conflict> conflicts, ListConflicts(node->store()));
  json logs = json::array();
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    for (const Member& m : members) {
      KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, m.node_id));
      logs.push_back({{"origin", ToHex(m.node_id)}, {"records", size}, {"local", m.node_id == node->id()}});
    }
    return Status::Ok();
  }));
  Store::Usage usage = node->store().GetUsage();
  json out = {{"node_id", ToHex(node->id())},
              {"name", node->name()},
              {"logs", logs},
              {"peers", peers.size()},
              {"conflicts", conflicts.size()},
              {"store_used_bytes", usage.used_bytes},
              {"store_map_bytes", usage.map_size}};
  if (args.Has("json")) {
    std::cout << out.dump() << "\n";
    return Status::Ok();
  }
  std::cout << "Node " << node->name() << " (" << ToHex(node->id()) << ")\n";
  for (const auto& l : logs) {
    std::cout << "  log " << l["origin"].get<std::string>().substr(0, 16) << "  "
              << l["records"] << " records" << (l["local"].get<bool>() ? "  (this node's own)" : "  (replica)")
              << "\n";
  }
  std::cout << "  " << peers.size() << " peers, " << members.size() << " federation members\n"
            << "  store: " << usage.used_bytes / (1 << 20) << " MiB used of "
            << usage.map_size / (1 << 20) << " MiB\n";
  if (conflicts.empty()) {
    std::cout << "  no conflicting checkpoints seen\n";
  } else {
    std::cout << "  WARNING: " << conflicts.size()
              << " conflicting checkpoints kept as proof that an origin rewrote its log:\n";
    for (const Conflict& c : conflicts) std::cout << "    origin " << ToHex(c.origin) << "\n";
  }
  return Status::Ok();
}

}  // namespace

std::vector<Command> FederationCommands() {
  return {
      {"member add", "accept a federation member's log (by its C2SP verifier key)",
       "khronika member add --data DIR --vkey VKEY [--cosigner-vkey VKEY]\n"
       "VKEY is what `khronika id` prints as vkey on the member's node.",
       {kData, {"vkey"}, {"cosigner-vkey"}, kMapSize}, RunMemberAdd},
      {"member list", "list federation members", "khronika member list --data DIR [--json]",
       {kData, kJson, kMapSize}, RunMemberList},
      {"peer add", "add a direct peer, pinned by its TLS certificate",
       "khronika peer add --data DIR --url https://HOST:PORT --id NODE_ID --cert-sha256 FP\n"
       "NODE_ID and FP are what `khronika id --json` prints as node_id and cert_sha256 on the\n"
       "peer. Both sides add each other: sync endpoints answer only configured peers.",
       {kData, {"url"}, {"id"}, {"cert-sha256"}, kMapSize}, RunPeerAdd},
      {"peer list", "list direct peers", "khronika peer list --data DIR [--json]",
       {kData, kJson, kMapSize}, RunPeerList},
      {"peer remove", "remove a direct peer", "khronika peer remove --data DIR NODE_ID",
       {kData, kMapSize}, RunPeerRemove},
      {"sync", "pull every member's log from the peers now",
       "khronika sync --data DIR [--peer NODE_ID]\n"
       "Fetches what each peer holds beyond this node, verifies everything, and commits. A\n"
       "peer whose checkpoint contradicts one held here is refused, and both checkpoints are\n"
       "kept as proof (see `khronika status`).",
       {kData, {"peer"}, kMapSize}, RunSync},
      {"status", "show the node's logs, peers and any conflicts",
       "khronika status --data DIR [--json]", {kData, kJson, kMapSize}, RunStatus},
  };
}

}  // namespace khronika::cli

// Subcommands of the federation: member, peer, sync, and status.
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "config.h"
#include "khronika/http/node_status.h"
#include "khronika/http/peer_transport.h"
#include "khronika/http/scrubber.h"
#include "khronika/http/tls.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/replication/git_mirror.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"

namespace khronika::cli {
namespace {

using nlohmann::json;

const OptionSpec kData{"data"};
const OptionSpec kMapSize{"map-size"};
const OptionSpec kJson{"json", false};

Result<Hash> NodeIdArg(const std::string& text, const char* what) {
  auto h = ParseHashHex(text);
  if (!h.ok()) return UsageError(std::string(what) + ": " + h.status().message());
  return *h;
}

Status RunMemberAdd(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string vkey, args.Require("vkey"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  std::string recovery = args.Get("recovery-pubkey").value_or("");
  if (!recovery.empty()) {
    auto parsed = ParseRecoveryPublicKey(recovery);
    if (!parsed.ok()) return UsageError("--recovery-pubkey: " + parsed.status().message());
  }
  KH_ASSIGN_OR_RETURN(Member m, AddMember(node->store(), vkey, args.Get("cosigner-vkey").value_or(""),
                                          recovery));
  std::cout << "member " << ToHex(m.node_id) << " added: its log will be accepted and kept";
  if (m.recovery_key) std::cout << "; recovery shares for it are sealed to " << RecoveryPublicKeyToText(*m.recovery_key);
  std::cout << "\n";
  return Status::Ok();
}

Status RunMemberRemove(const Args& args) {
  if (args.positional().size() != 1) return UsageError("member remove takes one NODE_ID");
  KH_ASSIGN_OR_RETURN(Hash id, NodeIdArg(args.positional()[0], "member remove"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  if (id == node->id()) {
    return Status::InvalidArgument("member remove: " + ToHex(id) + " is this node itself; its own "
                                   "log is always kept");
  }
  KH_RETURN_IF_ERROR(RemoveMember(node->store(), id));
  std::cout << "member " << ToHex(id) << " removed: its log is no longer accepted; what is "
            << "already held stays, verified and served\n";
  return Status::Ok();
}

Status RunMemberList(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(std::vector<Member> members, ListMembers(node->store()));
  for (const Member& m : members) {
    bool self = m.node_id == node->id();
    if (args.Has("json")) {
      json j{{"node_id", ToHex(m.node_id)}, {"vkey", m.vkey},  {"cosigner_vkey", m.cosigner_vkey},
             {"self", self},           {"removed", m.removed}};
      if (m.recovery_key) j["recovery_pubkey"] = RecoveryPublicKeyToText(*m.recovery_key);
      std::cout << j.dump() << "\n";
    } else {
      std::cout << ToHex(m.node_id) << (self ? "  (this node)" : "") << (m.removed ? "  REMOVED" : "")
                << "\n";
    }
  }
  return Status::Ok();
}

Status RunPeerAdd(const Args& args) {
  Peer p;
  p.serve_only = args.Has("serve-only");
  if (auto url = args.Get("url")) {
    p.url = *url;
    if (p.url.rfind("https://", 0) != 0) {
      return UsageError("--url must start with https://, got '" + p.url + "'");
    }
  } else if (!p.serve_only) {
    return UsageError("--url https://HOST:PORT is required (or --serve-only, for a peer that only "
                      "pulls from this node)");
  }
  KH_ASSIGN_OR_RETURN(std::string id, args.Require("id"));
  KH_ASSIGN_OR_RETURN(p.node_id, NodeIdArg(id, "--id"));
  KH_ASSIGN_OR_RETURN(std::string fp, args.Require("cert-sha256"));
  auto normalized = NormalizeFingerprint(fp);
  if (!normalized.ok()) return UsageError("--cert-sha256: " + normalized.status().message());
  p.cert_sha256 = *normalized;
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_RETURN_IF_ERROR(AddPeer(node->store(), p));
  if (p.serve_only) {
    std::cout << "peer " << id << " added, serve only (certificate sha256:" << p.cert_sha256
              << "): it may pull every log this node holds; this node never connects to it\n";
  } else {
    std::cout << "peer " << id << " at " << p.url << " added (certificate sha256:" << p.cert_sha256
              << ")\n";
  }
  return Status::Ok();
}

Status RunPeerList(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node->store()));
  for (const Peer& p : peers) {
    if (args.Has("json")) {
      json row = {{"node_id", ToHex(p.node_id)}, {"url", p.url}, {"cert_sha256", p.cert_sha256},
                  {"serve_only", p.serve_only}};
      std::cout << row.dump() << "\n";
    } else {
      std::cout << ToHex(p.node_id) << "  " << (p.url.empty() ? "-" : p.url)
                << "  sha256:" << p.cert_sha256
                << (p.serve_only ? "  serve only (pulls from this node, never pulled)" : "")
                << "\n";
    }
  }
  return Status::Ok();
}

Status RunPeerRemove(const Args& args) {
  if (args.positional().size() != 1) return UsageError("peer remove takes one NODE_ID");
  KH_ASSIGN_OR_RETURN(Hash id, NodeIdArg(args.positional()[0], "NODE_ID"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_RETURN_IF_ERROR(RemovePeer(node->store(), id));
  std::cout << "peer " << ToHex(id) << " removed\n";
  return Status::Ok();
}

// sync --via-git: a git repository relays logs between nodes that never talk to each other.
// DIR/git-relay is this node's cache of the relay: fetch it, import what it holds (verified as
// any sync), export this node's logs and checkpoints onto it, push back (fast-forward only).
Status RunSyncViaGit(Node& node, const std::string& dir, const std::string& url) {
  std::filesystem::path cache = std::filesystem::path(dir) / "git-relay";
  KH_RETURN_IF_ERROR(FetchMirror(cache, url));
  std::cout << "git " << url << ": fetched into " << cache.string() << "\n";
  bool all_ok = true;
  {
    KH_ASSIGN_OR_RETURN(std::unique_ptr<PeerTransport> relay, OpenMirrorTransport(cache));
    Witness witness{node.cosigner_name(), &node.cosigner_key()};
    // With the archive key, the node's own log may come back through the relay (a restore).
    KH_ASSIGN_OR_RETURN(SyncReport report,
                        PullFromPeer(node.store(), *relay, &witness, &node.archive_key()));
    all_ok = PrintPulled("git ", report, " (add it with `khronika member add`)");
  }
  KH_ASSIGN_OR_RETURN(MirrorExport exported, ExportMirror(node.store(), cache));
  for (const MirrorLogExport& e : exported.logs) {
    if (!e.status.ok()) {
      all_ok = false;
      std::cout << "git log " << ToHex(e.origin).substr(0, 16) << ": not exported: "
                << e.status.message() << "\n";
    } else if (e.to > e.from || e.checkpoints_updated) {
      std::cout << "git log " << ToHex(e.origin).substr(0, 16) << ": "
                << (e.to > e.from ? "exported records " + std::to_string(e.from) + " to " +
                                        std::to_string(e.to - 1)
                                  : std::string("records up to date"))
                << (e.checkpoints_updated ? "; checkpoints updated" : "") << "\n";
    }
  }
  KH_RETURN_IF_ERROR(PushMirror(cache, url));
  std::cout << "git " << url << ": pushed\n";
  if (!all_ok) return Status::IOError("some logs did not sync; see above");
  KH_ASSIGN_OR_RETURN(bool restoring, RestorePending(node.store()));
  if (restoring) {
    std::cout << "this node is being restored: it appends again after a `khronika sync` that "
                 "reaches every peer\n";
  }
  return Status::Ok();
}

Status RunSync(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  std::optional<Hash> only;
  if (auto p = args.Get("peer")) {
    KH_ASSIGN_OR_RETURN(only, NodeIdArg(*p, "--peer"));
  }
  std::optional<std::string> via_git = args.Get("via-git");
  if (via_git && only) return UsageError("--via-git and --peer exclude each other");
  if (via_git && via_git->empty()) return UsageError("--via-git takes a repository URL");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  if (via_git) return RunSyncViaGit(*node, dir, *via_git);
  KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node->store()));
  std::vector<Peer> pulled;  // the peers this round pulls from
  for (Peer& peer : peers) {
    if (only && peer.node_id != *only) continue;
    if (only && peer.serve_only) {
      return Status::InvalidArgument("peer " + ToHex(peer.node_id) +
                                     " is serve only: it pulls from this node, which never pulls "
                                     "from it (`khronika peer add` without --serve-only, with its "
                                     "--url, to pull from it)");
    }
    if (peer.serve_only) {
      std::cout << "peer " << ToHex(peer.node_id).substr(0, 16) << ": serve only, skipped (it "
                << "pulls from this node; this node does not pull from it)\n";
      continue;
    }
    pulled.push_back(std::move(peer));
  }
  if (only && pulled.empty()) return Status::NotFound("no peer " + ToHex(*only));
  PeerClientOptions reach;
  reach.tls_cert = (std::filesystem::path(dir) / "tls.crt").string();
  reach.tls_key = (std::filesystem::path(dir) / "tls.key").string();
  if (!pulled.empty() && !std::filesystem::exists(reach.tls_cert)) {
    return Status::NotFound(reach.tls_cert + " is missing: peers know this node by that certificate. Put "
                            "back tls.crt and tls.key (a backup restored with `khronika restore`, "
                            "or `khronika init --keys`, brings them)");
  }
  KH_ASSIGN_OR_RETURN(reach.deadlines, PeerDeadlinesOf(args, dir));
  bool all_ok = true;
  for (const Peer& peer : pulled) {
    std::string name = ToHex(peer.node_id).substr(0, 16);
    auto transport = HttpsPeerTransport::Connect(peer, reach);
    if (!transport.ok()) {
      std::cout << "peer " << name << ": unreachable: " << transport.status().message() << "\n";
      (void)RememberPull(node->store(), peer.node_id, transport.status(), SystemClock().NowMs());
      all_ok = false;
      continue;
    }
    Witness witness{node->cosigner_name(), &node->cosigner_key()};
    // The archive key lets a node restored from its keys take its own log back (its case index
    // and signed entries are rebuilt by opening each entry); other logs are taken sealed.
    auto report = PullFromPeer(node->store(), **transport, &witness, &node->archive_key());
    KH_RETURN_IF_ERROR(RememberPull(node->store(), peer.node_id, report, SystemClock().NowMs()));
    if (!report.ok()) {
      std::cout << "peer " << name << ": " << report.status().ToString() << "\n";
      all_ok = false;
      continue;
    }
    if (!PrintPulled("peer " + name + " ", *report, "")) all_ok = false;
  }
  if (!all_ok) return Status::IOError("some logs did not sync; see above");
  KH_ASSIGN_OR_RETURN(bool restoring, RestorePending(node->store()));
  if (restoring) {
    // Serve-only peers do not count: this node cannot take its log back from them.
    if (only || pulled.empty()) {
      std::cout << "this node is being restored: it appends again after a `khronika sync` that "
                   "reaches every peer it pulls from\n";
    } else {
      KH_RETURN_IF_ERROR(FinishRestore(node->store()));
      std::cout << "restore complete: every peer was reached and this node's own log is back; "
                   "it may append again\n";
    }
  }
  return Status::Ok();
}

std::string Ago(int64_t then_ms) {
  if (then_ms == 0) return "never";
  int64_t secs = (SystemClock().NowMs() - then_ms) / 1000;
  if (secs < 120) return std::to_string(secs) + " s ago";
  if (secs < 7200) return std::to_string(secs / 60) + " min ago";
  return std::to_string(secs / 3600) + " h ago";
}

Status RunStatus(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(json out, NodeStatusJson(*node));
  const json& logs = out["logs"];
  const json& peer_list = out["peers"];
  const uint64_t conflicts = out["conflicts"].get<uint64_t>();
  const uint64_t used_bytes = out["store_used_bytes"].get<uint64_t>();
  const uint64_t map_bytes = out["store_map_bytes"].get<uint64_t>();
  const json& scrub = out["last_scrub"];
  if (args.Has("json")) {
    std::cout << out.dump() << "\n";
    return Status::Ok();
  }
  std::cout << "Node " << node->name() << " (" << ToHex(node->id()) << ")\n";
  std::cout << "Logs held:\n";
  for (const auto& l : logs) {
    std::cout << "  " << l["origin"].get<std::string>().substr(0, 16) << "  " << l["records"]
              << " records" << (l["local"].get<bool>() ? " (this node's own)" : " (replica)");
    if (!l["checkpoint_size"].is_null()) {
      std::cout << ", checkpoint at " << l["checkpoint_size"] << " cosigned by "
                << l["cosigners"].size() << " partner" << (l["cosigners"].size() == 1 ? "" : "s");
      if (l.contains("external_witnesses") && !l["external_witnesses"].empty()) {
        std::cout << " and " << l["external_witnesses"].size() << " external witness"
                  << (l["external_witnesses"].size() == 1 ? "" : "es") << " ("
                  << l["external_witnesses"][0].get<std::string>()
                  << (l["external_witnesses"].size() > 1 ? ", ..." : "") << ")";
      }
    }
    std::cout << "\n";
  }
  std::cout << "Peers:\n";
  if (peer_list.empty()) std::cout << "  none (add one with `khronika peer add`)\n";
  for (const auto& p : peer_list) {
    std::cout << "  " << p["node_id"].get<std::string>().substr(0, 16) << "  "
              << (p["url"].get<std::string>().empty() ? "-" : p["url"].get<std::string>());
    if (p["serve_only"].get<bool>()) {
      std::cout << "  serve only: it pulls from this node, which never pulls from it";
    } else if (p.contains("last_attempt_ms")) {
      std::cout << "  last success " << Ago(p["last_success_ms"].get<int64_t>()) << ", "
                << p["lag_records"] << " records behind";
      if (!p["last_error"].get<std::string>().empty()) {
        std::cout << ", last error: " << p["last_error"].get<std::string>();
      }
    } else {
      std::cout << "  not pulled yet";
    }
    std::cout << "\n";
  }
  std::cout << "Store: " << used_bytes / (1 << 20) << " MiB used of " << map_bytes / (1 << 20)
            << " MiB\n";
  if (scrub.is_null()) {
    std::cout << "Scrub: never run (`khronika scrub`, or serve's daily schedule)\n";
  } else {
    std::cout << "Scrub: " << Ago(scrub["finished_ms"].get<int64_t>()) << ", " << scrub["checked"]
              << " items checked, " << scrub["damaged"] << " damaged or missing, "
              << scrub["repaired"] << " repaired";
    if (scrub["unrepaired"].get<uint64_t>() > 0) {
      std::cout << "\nWARNING: " << scrub["unrepaired"] << " items no peer could supply:";
      for (const json& item : scrub["unrepaired_items"]) std::cout << "\n  " << item.get<std::string>();
    }
    std::cout << "\n";
  }
  if (conflicts == 0) {
    std::cout << "No conflicting checkpoints seen.\n";
  } else {
    std::cout << "WARNING: " << conflicts
              << " conflicting checkpoints kept as proof that an origin rewrote or forked its log"
                 " (see `khronika conflicts`).\n";
  }
  return Status::Ok();
}

Status RunScrub(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  std::filesystem::path dir = *args.Get("data");
  PeerClientOptions reach;
  reach.tls_cert = (dir / "tls.crt").string();
  reach.tls_key = (dir / "tls.key").string();
  KH_ASSIGN_OR_RETURN(reach.deadlines, PeerDeadlinesOf(args, dir));
  KH_ASSIGN_OR_RETURN(ScrubReport report, ScrubNode(*node, reach, !args.Has("no-repair")));
  for (const ScrubFinding& f : report.findings) {
    std::cout << (f.repaired ? "repaired " : "DAMAGED  ") << f.Describe() << "\n";
  }
  std::cout << "scrub: " << report.chunks << " sealed chunks, " << report.objects << " sealed objects, "
            << report.records << " records re-read; " << report.findings.size() << " damaged or missing, "
            << report.findings.size() - report.unrepaired() << " repaired from peers\n";
  if (report.unrepaired() > 0) {
    std::cerr << report.unrepaired() << " items could not be repaired: no peer supplied them "
              << "(add peers, or restore from a backup; see docs/operator.md)\n";
    return ProblemsFound();
  }
  return Status::Ok();
}

Status RunConflicts(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  if (args.Has("json")) {
    KH_ASSIGN_OR_RETURN(json list, ConflictsJson(*node));
    for (const json& c : list) std::cout << c.dump() << "\n";
    return Status::Ok();
  }
  KH_ASSIGN_OR_RETURN(std::vector<Conflict> conflicts, ListConflicts(node->store()));
  for (const Conflict& c : conflicts) {
    if (c.proven) {
      std::cout << "Origin " << ToHex(c.origin) << " signed two checkpoints that cannot both be true";
    } else {
      std::cout << "Not proven: a peer could not prove these checkpoints of origin " << ToHex(c.origin)
                << " consistent (a forked log, or a faulty peer; pull the log from another peer)";
    }
    std::cout << " (seen at " << c.detected_ms << " ms):\n--- held here:\n" << c.ours
              << "--- presented by a peer:\n" << c.theirs << "\n";
  }
  if (conflicts.empty()) std::cout << "No conflicting checkpoints.\n";
  return Status::Ok();
}

}  // namespace

bool PrintPulled(const std::string& prefix, const SyncReport& report, const std::string& hint) {
  bool all_ok = true;
  for (const LogSyncResult& l : report.logs) {
    std::cout << prefix << "log " << ToHex(l.origin).substr(0, 16) << ": ";
    if (l.skipped) {
      std::cout << "skipped: not a federation member here" << hint << "\n";
    } else if (l.status.ok()) {
      std::cout << (l.to > l.from ? "received records " + std::to_string(l.from) + " to " +
                                        std::to_string(l.to - 1) + " (" +
                                        std::to_string(l.chunks_fetched) + " chunks)"
                                  : "up to date at " + std::to_string(l.to) + " records")
                << (l.timestamps_received > 0
                        ? "; " + std::to_string(l.timestamps_received) + " RFC 3161 timestamp(s)"
                        : std::string())
                << (l.cosigned ? "; cosigned" : "") << "\n";
    } else {
      all_ok = false;
      std::cout << (l.conflict ? "CONFLICT: " : "failed: ") << l.status.message()
                << (l.to > l.from ? " (kept records up to " + std::to_string(l.to) + ")" : "")
                << "\n";
    }
  }
  return all_ok;
}

std::vector<Command> FederationCommands() {
  return {
      {"member add", "accept a federation member's log (by its C2SP verifier key)",
       "khronika member add --data DIR --vkey VKEY [--cosigner-vkey VKEY] [--recovery-pubkey KEY]\n"
       "VKEY is what `khronika id` prints as vkey on the member's node; KEY (x25519:…) what its\n"
       "`khronika id` prints as recovery_pubkey, after its operator ran `khronika recovery keygen`.\n"
       "This node's recovery shares are sealed to the recovery keys of its members.",
       {kData, {"vkey"}, {"cosigner-vkey"}, {"recovery-pubkey"}, kMapSize}, RunMemberAdd},
      {"member remove", "stop accepting a member's log (what is held stays)",
       "khronika member remove --data DIR NODE_ID\n"
       "Sync takes nothing more from NODE_ID's log. Records already held stay, verified and\n"
       "served (its key is kept for that); a member of which nothing is held leaves the roster.\n"
       "This node cannot remove itself. `member add` makes it a member again.",
       {kData, kMapSize}, RunMemberRemove},
      {"member list", "list federation members", "khronika member list --data DIR [--json]",
       {kData, kJson, kMapSize}, RunMemberList},
      {"peer add", "add a direct peer, pinned by its TLS certificate",
       "khronika peer add --data DIR --url https://HOST:PORT --id NODE_ID --cert-sha256 FP\n"
       "khronika peer add --data DIR --serve-only [--url URL] --id NODE_ID --cert-sha256 FP\n"
       "NODE_ID and FP are what `khronika id --json` prints as node_id and cert_sha256 on the\n"
       "peer. Both sides add each other: sync endpoints answer only configured peers. A peer\n"
       "with the same id is replaced.\n"
       "--serve-only: the peer may pull every log this node holds, as any peer may, but this\n"
       "node never connects to it (no pull, no notification, no repair): for an auditor's node\n"
       "without a public address. Its URL is optional, and not used.",
       {kData, {"url"}, {"id"}, {"cert-sha256"}, {"serve-only", false}, kMapSize}, RunPeerAdd},
      {"peer list", "list direct peers", "khronika peer list --data DIR [--json]",
       {kData, kJson, kMapSize}, RunPeerList},
      {"peer remove", "remove a direct peer", "khronika peer remove --data DIR NODE_ID",
       {kData, kMapSize}, RunPeerRemove},
      {"sync", "pull every member's log from the peers now",
       "khronika sync --data DIR [--peer NODE_ID | --via-git URL] [--config FILE]\n"
       "Fetches what each peer holds beyond this node, verifies everything, and commits. A\n"
       "peer whose checkpoint contradicts one held here is refused, and both checkpoints are\n"
       "kept as proof (see `khronika status`). A peer that does not answer in time\n"
       "(peer_*_timeout_ms in FILE, default DIR/khronika.conf) is given up on, named.\n"
       "Serve-only peers (`peer add --serve-only`) are skipped, each with a line saying so.\n"
       "With --via-git, no peer is contacted: the git repository at URL (a path, file://, or\n"
       "any URL libgit2 supports) relays the logs. Its branches are fetched into DIR/git-relay,\n"
       "imported with every check of a sync, and this node's logs and checkpoints are exported\n"
       "there and pushed back (fast-forward only). DIR/git-relay and the relay hold ciphertext\n"
       "only (records, sealed entries, sealed files), so the relay may be any git host;\n"
       "DIR/git-relay is kept mode 0700 all the same.",
       {kData, {"peer"}, {"via-git"}, {"config"}, kMapSize}, RunSync},
      {"status", "show the node's logs, peers and any conflicts",
       "khronika status --data DIR [--json]\n"
       "Per log: records held, the latest checkpoint and which partners cosigned it. Per peer:\n"
       "the last successful pull, how many records behind this node still is, the last error.\n"
       "Then the last scrub (what was damaged, repaired, or is still damaged) and conflicts.",
       {kData, kJson, kMapSize}, RunStatus},
      {"conflicts", "print the proofs that an origin rewrote or forked its log",
       "khronika conflicts --data DIR [--json]\n"
       "Each proof is two checkpoints signed by the same origin that no append-only log can\n"
       "both have produced; anyone can check both signatures with the origin's public key.",
       {kData, kJson, kMapSize}, RunConflicts},
      {"scrub", "re-read everything stored, and repair damage from peers",
       "khronika scrub --data DIR [--no-repair] [--config FILE]\n"
       "Re-hashes every sealed chunk and object against its id and every record against the\n"
       "Merkle tree, and follows every reference to find what is missing. Damaged or missing\n"
       "items are fetched from the configured peers (mutual TLS, as sync) and checked before\n"
       "they are written back. Exit 1 if anything could not be repaired. `serve` also scrubs\n"
       "on a schedule (scrub_interval_h, default 24).",
       {kData, {"no-repair", false}, {"config"}, kMapSize}, RunScrub},
  };
}

}  // namespace khronika::cli

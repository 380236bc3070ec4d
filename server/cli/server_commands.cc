// Subcommands that run or administer a node: serve, token, access-log.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "config.h"
#include "khronika/auth/auth.h"
#include "khronika/http/logging.h"
#include "khronika/http/scrubber.h"
#include "khronika/http/server.h"
#include "khronika/http/tls.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/replication/roster.h"
#include "khronika/store/files.h"

namespace khronika::cli {
namespace {

const OptionSpec kData{"data"};
const OptionSpec kMapSize{"map-size"};

Status RunServe(const Args& args) {
  // glibc gives each thread that allocates its own arena and rarely returns their memory; with
  // dozens of worker threads handling megabyte bodies, the resident set would grow with the
  // traffic. Two arenas keep it flat at a negligible cost in contention.
  mallopt(M_ARENA_MAX, 2);
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  ServerOptions options;
  LogSettings log;
  options.tls_cert = std::filesystem::path(dir) / "tls.crt";
  options.tls_key = std::filesystem::path(dir) / "tls.key";
  std::optional<std::filesystem::path> config = ConfigFileOf(args, dir);
  if (config) KH_RETURN_IF_ERROR(ApplyConfigFile(*config, options, log));
  if (auto level = args.Get("log-level")) {
    auto l = ParseLogLevel(*level);
    if (!l.ok()) return UsageError("--log-level: " + l.status().message());
    log.level = *l;
  }
  SetLogging(log.level, log.format);
  if (auto listen = args.Get("listen")) {
    KH_ASSIGN_OR_RETURN(auto hp, ParseListen(*listen));
    options.host = hp.first;
    options.port = hp.second;
  }
  if (auto c = args.Get("tls-cert")) options.tls_cert = *c;
  if (auto k = args.Get("tls-key")) options.tls_key = *k;
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  if (!args.Has("tls-cert") && !std::filesystem::exists(options.tls_cert)) {
    // A node made before certificates existed: make its own now.
    KH_RETURN_IF_ERROR(CreateSelfSignedCertificate(options.tls_cert, options.tls_key));
  }
  KH_ASSIGN_OR_RETURN(std::string fingerprint, CertificateFingerprint(options.tls_cert));
  for (const Peer& peer : log.peers) {
    Status added = AddPeer(node->store(), peer);
    if (!added.ok()) return added.Annotate("peer " + ToHex(peer.node_id) + " in " + config->string());
  }
  Server server(*node, options);
  KH_RETURN_IF_ERROR(server.Start());
  std::optional<ScrubSchedule> scrubs;
  if (log.scrub_interval.count() > 0) {
    scrubs.emplace(*node,
                   PeerClientOptions{options.tls_cert.string(), options.tls_key.string(),
                                     options.peer_deadlines, nullptr},
                   log.scrub_interval);
  }
  std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  std::cout << "khronika node " << ToHex(node->id()) << " (" << node->name() << ")\n"
            << "listening on https://" << host << ":" << server.port() << "\n"
            << "certificate sha256:" << fingerprint << "\n"
            << std::flush;
  server.Run();
  scrubs.reset();  // stops a scrub in progress at its next item
  std::cout << "stopped; every acknowledged entry is committed\n";
  return Status::Ok();
}

Status RunTokenCreate(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string role_text, args.Require("role"));
  auto role = ParseRole(role_text);
  if (!role.ok()) return UsageError(role.status().message());
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(NewToken t, CreateToken(node->store(), *role, args.GetAll("case"), SystemClock().NowMs()));
  std::cout << t.secret << "\n";
  std::cerr << "token " << t.info.id << " (" << RoleName(t.info.role) << ") created; it is shown "
            << "only this once, and the node keeps only its hash\n";
  return Status::Ok();
}

Status RunTokenList(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(std::vector<TokenInfo> tokens, ListTokens(node->store()));
  for (const TokenInfo& t : tokens) {
    if (args.Has("json")) {
      std::cout << nlohmann::json{{"id", t.id}, {"role", RoleName(t.role)}, {"cases", t.cases},
                                  {"created_ms", t.created_ms}, {"revoked", t.revoked}}.dump()
                << "\n";
      continue;
    }
    std::cout << t.id << "  " << RoleName(t.role) << "  "
              << (t.cases.empty() ? std::string("all cases") : "") ;
    for (size_t i = 0; i < t.cases.size(); ++i) std::cout << (i ? "," : "") << t.cases[i];
    std::cout << (t.revoked ? "  REVOKED" : "") << "\n";
  }
  return Status::Ok();
}

Status RunTokenRevoke(const Args& args) {
  if (args.positional().size() != 1) return UsageError("token revoke takes one TOKEN_ID");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_RETURN_IF_ERROR(RevokeToken(node->store(), args.positional()[0]));
  std::cout << "revoked token " << args.positional()[0] << "\n";
  return Status::Ok();
}

Status RunAccessLog(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(std::vector<AccessEvent> events, ListAccess(node->store()));
  for (const AccessEvent& e : events) {
    if (args.Has("json")) {
      std::cout << AccessEventJson(e).dump() << "\n";
    } else {
      std::cout << e.time_ms << "  " << e.token_id << "  " << RoleName(e.role) << "  " << e.action
                << "  " << e.object << "  case " << e.case_id << "\n";
    }
  }
  return Status::Ok();
}

Status RunBackup(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string out, args.Require("out"));
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_RETURN_IF_ERROR(node->store().BackupTo(out));
  std::cout << "wrote a consistent, compacted copy of the store to " << out << " (mode 0600)\n"
            << (node->encrypted()
                    ? "It is encrypted under the data key in node.keyring: keep a copy of node.keyring\n"
                      "with it (sealed, safe to store) and the passphrase or key file apart.\n"
                    : "It holds evidence but no keys: keep node.key, cosigner.key and tls.key apart.\n");
  return Status::Ok();
}

// Restores a backup into a data directory, but only after the copy has been verified in full
// (every id, signature, chain, tree node and checkpoint) against the node key it belongs to.
Status RunRestore(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string from, args.Require("from"));
  KH_ASSIGN_OR_RETURN(std::string dir_text, args.Require("data"));
  std::filesystem::path dir(dir_text);
  std::error_code ec;
  if (std::filesystem::exists(Node::StorePath(dir) / "data.mdb", ec)) {
    return Status::AlreadyExists(dir.string() + " already holds a store; restore into a new directory");
  }
  // The keys: an encrypted node's keyring (in DIR, or --keyring FILE), else its node.key.
  std::filesystem::path key = Node::KeyringPath(dir), staged_key;
  if (auto keyring = args.Get("keyring")) key = *keyring;
  bool encrypted = args.Has("keyring") || std::filesystem::exists(key, ec);
  if (!encrypted) {
    key = Node::KeyPath(dir);
    if (!std::filesystem::exists(key, ec)) {
      auto given = args.Get("node-key");
      if (!given) {
        return UsageError("the node's keys are not in " + dir.string() +
                          ": give --keyring FILE (an encrypted node) or --node-key FILE");
      }
      key = *given;
    }
  }
  if (!std::filesystem::is_regular_file(key, ec)) {
    return Status::NotFound(key.string() + " does not exist: the node's keys are needed to restore");
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
  std::filesystem::path staging = dir / ".restore-staging";
  std::filesystem::remove_all(staging, ec);
  std::filesystem::create_directories(Node::StorePath(staging), ec);
  if (ec) return Status::IOError("create " + staging.string() + ": " + ec.message());
  auto cleanup = [&] { std::filesystem::remove_all(staging, ec); };
  staged_key = encrypted ? Node::KeyringPath(staging) : Node::KeyPath(staging);
  std::filesystem::copy_file(from, Node::StorePath(staging) / "data.mdb", ec);
  if (!ec) std::filesystem::copy_file(key, staged_key, ec);
  if (ec) {
    cleanup();
    return Status::IOError("copy the backup: " + ec.message());
  }
  auto unlock = UnlockFrom(args, staging);
  if (!unlock.ok()) {
    cleanup();
    return unlock.status();
  }
  Status verdict = [&]() -> Status {
    StoreOptions ro;
    ro.read_only = true;
    KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Node::Open(staging, ro, *unlock));
    KH_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(node->store()));
    for (const std::string& p : report.problems) std::cout << "FAIL " << p << "\n";
    if (!report.clean()) {
      return Status::Corruption("the backup has " + std::to_string(report.problems.size()) +
                                " problems; nothing was restored");
    }
    std::cout << "backup verified: " << report.records << " records in " << report.origins
              << " logs, " << report.chunks << " chunks\n";
    return Status::Ok();
  }();
  if (!verdict.ok()) {
    cleanup();
    return verdict;
  }
  if (!args.Has("standalone")) {
    // A backup may be older than the copies of this node's log that its peers hold: appending
    // before catching up would fork the log. Held back until a full `khronika sync`.
    Status held = [&]() -> Status {
      KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Node::Open(staging, {}, *unlock));
      return node->store().Update([](WriteTxn& txn) {
        return txn.Put(Table::kMeta, AsBytes(keys::kMetaRestorePending), AsBytes("1"));
      });
    }();
    if (!held.ok()) {
      cleanup();
      return held;
    }
  }
  std::filesystem::path final_key = encrypted ? Node::KeyringPath(dir) : Node::KeyPath(dir);
  std::filesystem::rename(Node::StorePath(staging), Node::StorePath(dir), ec);
  if (!ec && !std::filesystem::exists(final_key)) std::filesystem::rename(staged_key, final_key, ec);
  cleanup();
  if (ec) return Status::IOError("move the restored store into place: " + ec.message());
  ::chmod(final_key.c_str(), 0600);
  std::cout << "restored into " << dir.string()
            << (args.Has("standalone")
                    ? "\n"
                    : "; it appends again after a `khronika sync` that reaches every peer\n");
  return Status::Ok();
}

}  // namespace

std::vector<Command> ServerCommands() {
  return {
      {"serve", "run the node's HTTPS API",
       "khronika serve --data DIR [--listen HOST:PORT] [--config FILE]\n"
       "               [--tls-cert FILE --tls-key FILE] [--log-level debug|info|warn|error]\n"
       "Serves on 127.0.0.1:8443 by default with the certificate made by init, and prints\n"
       "the URL and the certificate's SHA-256 fingerprint for clients to pin. Settings come\n"
       "from FILE (default DIR/khronika.conf, if present); flags override it. SIGINT or\n"
       "SIGTERM stops accepting, finishes and commits requests in flight, then exits.",
       {kData, {"listen"}, {"config"}, {"tls-cert"}, {"tls-key"}, {"log-level"}, kMapSize}, RunServe},
      {"token create", "create an API token (printed once)",
       "khronika token create --data DIR --role admin|submitter|reader|auditor [--case ID]...\n"
       "Prints a new 256-bit token once; the node stores only its SHA-256. --case limits a\n"
       "submitter or reader token to those cases.",
       {kData, {"role"}, {"case", true, true}, kMapSize}, RunTokenCreate},
      {"token list", "list tokens (ids and roles, never the secrets)",
       "khronika token list --data DIR [--json]", {kData, {"json", false}, kMapSize}, RunTokenList},
      {"token revoke", "revoke a token at once",
       "khronika token revoke --data DIR TOKEN_ID", {kData, kMapSize}, RunTokenRevoke},
      {"backup", "write a consistent copy of the store while the node serves",
       "khronika backup --data DIR --out FILE\n"
       "LMDB's compacting copy of one snapshot: safe while the node serves. FILE holds the\n"
       "evidence and logs, not the keys (an encrypted node's FILE is encrypted too: restoring\n"
       "it needs the node's keyring and passphrase or key file).",
       {kData, {"out"}, kMapSize}, RunBackup},
      {"restore", "restore a backup into a new data directory, verified first",
       "khronika restore --from FILE --data DIR [--keyring FILE | --node-key FILE] [--standalone]\n"
       "Verifies the whole backup (ids, signatures, chains, Merkle nodes, checkpoints) against\n"
       "the node's key before anything is put in place. DIR must hold no store. An encrypted\n"
       "node's backup needs its keyring (DIR/node.keyring or --keyring FILE) and its passphrase\n"
       "or key file; a node in clear needs DIR/node.key or --node-key, the key the backup's\n"
       "log was signed with. Appending stays held\n"
       "until a `khronika sync` has reached every peer (the backup may be older than their\n"
       "copies of this node's log); --standalone is for a node with no federation.",
       {kData, {"from"}, {"node-key"}, {"keyring"}, {"standalone", false}, kMapSize}, RunRestore},
      {"access-log", "print who read which evidence, and when",
       "khronika access-log --data DIR [--json]", {kData, {"json", false}, kMapSize}, RunAccessLog},
  };
}

}  // namespace khronika::cli

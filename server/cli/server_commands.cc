// Subcommands that run or administer a node: serve, token, access-log.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "commands.h"
#include "config.h"
#include "khronika/auth/auth.h"
#include "khronika/http/logging.h"
#include "khronika/http/scrubber.h"
#include "khronika/http/server.h"
#include "khronika/http/tls.h"
#include "khronika/log/custody.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/replication/roster.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/text.h"
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
    // Partners pin this node's certificate: a new one would be refused by every one of them
    // (403 on the sync endpoints), and silently so. Only a node without peers, or an operator
    // who says so, gets a new certificate.
    KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node->store()));
    size_t pinning = peers.size() + log.peers.size();
    if (pinning > 0 && !args.Has("new-certificate")) {
      return Status::NotFound(
          options.tls_cert.string() + " is missing, and this node has " + std::to_string(pinning) +
          " peer(s) that pin its certificate: a new one would be refused by them. Put back the "
          "node's tls.crt and tls.key (`khronika restore` of a recent backup brings them, and so "
          "does `khronika init --keys` from a `khronika key export` file), or start once with "
          "--new-certificate and give every partner the new cert_sha256 (`khronika id`) to pin");
    }
    KH_RETURN_IF_ERROR(CreateSelfSignedCertificate(options.tls_cert, options.tls_key));
    std::string made = "made a new TLS certificate " + options.tls_cert.string() +
                       (pinning ? ": give every partner its cert_sha256 to pin" : "");
    if (LogFormatIsJson()) {
      LogLine(LogLevel::kWarn, "serve", made);
    } else {
      std::cerr << made << "\n";
    }
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
  std::string url = "https://" + host + ":" + std::to_string(server.port());
  // Scripts read the URL and the fingerprint from stdout: in text, the "listening on" and
  // "certificate sha256:" lines; in JSON, the fields "url" and "cert_sha256" of one object.
  if (LogFormatIsJson()) {
    std::cout << JsonLogObject(LogLevel::kInfo, "serve", "listening on " + url,
                               {{"node_id", ToHex(node->id())},
                                {"name", node->name()},
                                {"url", url},
                                {"cert_sha256", fingerprint}})
              << "\n"
              << std::flush;
  } else {
    std::cout << "khronika node " << ToHex(node->id()) << " (" << node->name() << ")\n"
              << "listening on " << url << "\n"
              << "certificate sha256:" << fingerprint << "\n"
              << std::flush;
  }
  server.Run();
  scrubs.reset();  // stops a scrub in progress at its next item
  const char* stopped = "stopped; every acknowledged entry is committed";
  if (LogFormatIsJson()) {
    std::cout << JsonLogObject(LogLevel::kInfo, "serve", stopped) << "\n" << std::flush;
  } else {
    std::cout << stopped << "\n";
  }
  return Status::Ok();
}

Status RunTokenCreate(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string role_text, args.Require("role"));
  auto role = ParseRole(role_text);
  if (!role.ok()) return UsageError(role.status().message());
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  KH_ASSIGN_OR_RETURN(NewToken t, CreateToken(node->store(), *role, args.GetAll("case"), SystemClock().NowMs(),
                                              args.Get("label").value_or("")));
  LogPendingCustodyNow(*node);  // the grant, recorded with the token, goes into the log
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
                                  {"created_ms", t.created_ms}, {"revoked", t.revoked},
                                  {"label", t.label}}.dump()
                << "\n";
      continue;
    }
    std::cout << t.id << "  " << RoleName(t.role) << "  "
              << (t.cases.empty() ? std::string("all cases") : "") ;
    for (size_t i = 0; i < t.cases.size(); ++i) std::cout << (i ? "," : "") << t.cases[i];
    if (!t.label.empty()) std::cout << "  " << ShowInvisible(t.label);
    std::cout << (t.revoked ? "  REVOKED" : "") << "\n";
  }
  return Status::Ok();
}

Status RunTokenRevoke(const Args& args) {
  if (args.positional().size() != 1) return UsageError("token revoke takes one TOKEN_ID or the token itself");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  const std::string& given = args.positional()[0];
  const int64_t now = SystemClock().NowMs();
  std::string id = given;
  Status revoked = Status::Ok();
  if (LooksLikeTokenSecret(given)) {  // the secret itself: found by its hash, never printed back
    auto by_secret = RevokeTokenBySecret(node->store(), given, now);
    if (by_secret.ok()) id = *by_secret;
    revoked = by_secret.status();
  } else {
    revoked = RevokeToken(node->store(), given, now);
  }
  if (revoked.code() == Code::kAlreadyExists) {  // revoking twice is no error, and no new event
    std::cout << revoked.message() << "\n";
    return Status::Ok();
  }
  KH_RETURN_IF_ERROR(revoked);
  LogPendingCustodyNow(*node);
  std::cout << "revoked token " << id << "\n";
  return Status::Ok();
}

// `--since`: "YYYY-MM-DD" (midnight) or "YYYY-MM-DDTHH:MM:SSZ", both UTC; milliseconds since 1970.
Result<int64_t> ParseSince(const std::string& text) {
  // 'd' stands for a digit; everything else must match as it is.
  const std::string_view date = "dddd-dd-dd", full = "dddd-dd-ddTdd:dd:ddZ";
  auto fits = [&](std::string_view pattern) {
    if (text.size() != pattern.size()) return false;
    for (size_t i = 0; i < pattern.size(); ++i) {
      bool digit = text[i] >= '0' && text[i] <= '9';
      if (pattern[i] == 'd' ? !digit : text[i] != pattern[i]) return false;
    }
    return true;
  };
  auto number = [&](size_t at, size_t len) { return std::stoi(text.substr(at, len)); };
  bool is_full = fits(full);
  std::tm tm{};
  if (is_full || fits(date)) {
    tm.tm_year = number(0, 4) - 1900;
    tm.tm_mon = number(5, 2) - 1;
    tm.tm_mday = number(8, 2);
    if (is_full) {
      tm.tm_hour = number(11, 2);
      tm.tm_min = number(14, 2);
      tm.tm_sec = number(17, 2);
    }
  }
  if (!(is_full || fits(date)) || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
      tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return Status::InvalidArgument("--since " + text +
                                   ": expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

Status RunAccessLog(const Args& args) {
  int64_t since = INT64_MIN;
  if (auto text = args.Get("since")) {
    KH_ASSIGN_OR_RETURN(since, ParseSince(*text));
  }
  std::optional<std::string> only_case = args.Get("case");
  const std::vector<std::string> actions = args.GetAll("action");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  // The custody events of the log (sealed custody records, opened with the archive key) and
  // those still pending, in recording order (docs/format.md section 7.3).
  std::vector<ListedCustodyEvent> events;
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(events, ListCustody(txn, node->id(), node->archive_key()));
    return Status::Ok();
  }));
  std::erase_if(events, [&](const ListedCustodyEvent& l) {
    return l.event.time_ms < since || (only_case && l.event.case_id != *only_case) ||
           (!actions.empty() &&
            std::find(actions.begin(), actions.end(), l.event.action) == actions.end());
  });
  // A read names its file by sealed entry id and file index ("ID/INDEX"); the name is sealed in
  // the entry, which the archive key opens. Anything else (an entry this node's log does not
  // hold, a bundle) leaves the object as it is.
  std::map<std::string, std::string> names;
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    for (const ListedCustodyEvent& l : events) {
      const CustodyEvent& e = l.event;
      if (names.count(e.object)) continue;
      size_t slash = e.object.find('/');
      auto id = ParseHashHex(e.object.substr(0, slash));
      if (!id.ok()) continue;
      uint64_t index = 0;
      if (slash != std::string::npos) {
        std::string_view digits = std::string_view(e.object).substr(slash + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
        if (ec != std::errc() || end != digits.data() + digits.size()) continue;
      }
      auto opened = OpenReadableEntry(txn, EntryKey::Archive(node->archive_key()), *id);
      if (!opened.ok()) continue;
      if (slash == std::string::npos) {
        names[e.object] = "entry " + ToHex(*id);
      } else if (index < opened->files.size()) {
        names[e.object] = opened->files[index].descriptor.name;
      }
    }
    return Status::Ok();
  }));
  for (const ListedCustodyEvent& l : events) {
    const CustodyEvent& e = l.event;
    auto name = names.find(e.object);
    if (args.Has("json")) {
      nlohmann::json j = CustodyEventJson(e);
      j["time"] = UtcTime(e.time_ms);
      if (name != names.end()) j["file"] = name->second;
      if (l.record_index) {
        j["logged"] = {{"record", *l.record_index}, {"slot", l.slot}};
      } else {
        j["logged"] = nullptr;  // pending: not yet sealed into the log
      }
      std::cout << j.dump() << "\n";
    } else {
      std::string what = name != names.end() ? ShowInvisible(name->second) : e.object;
      std::string where = l.record_index ? "logged at record " + std::to_string(*l.record_index)
                                         : std::string("pending");
      std::cout << UtcTime(e.time_ms) << "  " << e.token_id << "  " << e.role << "  "
                << e.action << "  " << what << "  case " << e.case_id << "  " << where << "\n";
    }
  }
  return Status::Ok();
}

// The files of DIR that `backup` carries inside the store copy (store_keys.h), and their modes
// when `restore` writes them back.
struct NodeFile {
  std::string_view meta_key;
  const char* name;
  unsigned mode;
};
constexpr NodeFile kNodeFiles[] = {{keys::kMetaBackupTlsCert, "tls.crt", 0644},
                                   {keys::kMetaBackupTlsKey, "tls.key", 0600},
                                   {keys::kMetaBackupConfig, "khronika.conf", 0600}};

Status RunBackup(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string out, args.Require("out"));
  KH_ASSIGN_OR_RETURN(std::string dir_text, args.Require("data"));
  std::filesystem::path dir(dir_text);
  std::error_code ec;
  if (std::filesystem::exists(out, ec)) return Status::AlreadyExists(out + " already exists");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, OpenNode(args, false));
  // The certificate partners pin, its key and the settings go into the store itself, so that
  // the backup is one file, and on an encrypted node they are sealed under the data key with
  // everything else (a backup must not hand out the key that partners' sync endpoints trust).
  std::vector<std::string> carried;
  KH_RETURN_IF_ERROR(node->store().Update([&](WriteTxn& txn) -> Status {
    for (const NodeFile& f : kNodeFiles) {
      std::filesystem::path path = dir / f.name;
      if (!std::filesystem::exists(path, ec)) {
        KH_RETURN_IF_ERROR(txn.Delete(Table::kMeta, AsBytes(f.meta_key)));
        continue;
      }
      KH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, 1 << 20));
      KH_RETURN_IF_ERROR(txn.Put(Table::kMeta, AsBytes(f.meta_key), AsBytes(text)));
      OPENSSL_cleanse(text.data(), text.size());
      carried.push_back(f.name);
    }
    return Status::Ok();
  }));
  KH_RETURN_IF_ERROR(node->store().BackupTo(out));
  std::cout << "wrote a consistent, compacted copy of the store to " << out << " (mode 0600), with";
  for (size_t i = 0; i < carried.size(); ++i) std::cout << (i ? ", " : " ") << carried[i];
  std::cout << (carried.empty() ? " no other file" : "") << "\n";
  if (!node->encrypted()) {
    std::cout << "It is in clear, like this node (tls.key included), and its evidence is sealed\n"
                 "under the node's archive key, which it does not hold: keep DIR/node.key,\n"
                 "cosigner.key and archive.key apart (without archive.key it cannot be read).\n";
    return Status::Ok();
  }
  // Which keyring, and which unlock, this backup will need: after a data-key rotation only a
  // keyring of before opens it.
  KH_ASSIGN_OR_RETURN(KeyringInfo lock, Node::LockOf(dir));
  KH_ASSIGN_OR_RETURN(std::string keyring, ReadSmallFile(Node::KeyringPath(dir), 64 * 1024));
  std::cout << "It is encrypted under the data key in " << Node::KeyringPath(dir).string()
            << " (sha256 " << ToHex(Sha256(keyring)) << "), sealed under "
            << (lock.lock == LockKind::kPassphrase ? "the node's passphrase"
                                                   : "the key file " + lock.key_file_hint.string())
            << ", which also holds the archive key that opens the evidence"
            << ".\nKeep a copy of that keyring with the backup (sealed, safe to store) and the "
               "passphrase or key file apart:\nafter `khronika passphrase change "
               "--rotate-data-key`, only a keyring of before it opens this backup.\n";
  return Status::Ok();
}

// Restores a backup into a data directory, but only after the copy has been verified in full
// (every id, signature, chain, tree node and checkpoint) against the node key it belongs to.
// The TLS certificate, its key and the settings come back from the backup too, so that partners
// recognise the node. Nothing is left behind if it fails, not even the directory it made.
Status RunRestore(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string from, args.Require("from"));
  KH_ASSIGN_OR_RETURN(std::string dir_text, args.Require("data"));
  std::filesystem::path dir(dir_text);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(from, ec)) {
    return Status::NotFound("the backup " + from +
                            (std::filesystem::exists(from, ec) ? " is not a file" : " does not exist") +
                            ": nothing was restored");
  }
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
  // A node in clear keeps its archive key beside node.key; an encrypted one, in its keyring.
  std::filesystem::path archive_key;
  if (!encrypted) {
    archive_key = Node::ArchiveKeyPath(dir);
    if (!std::filesystem::exists(archive_key, ec)) {
      auto given = args.Get("archive-key");
      if (!given) {
        return UsageError("the node's archive key is not in " + dir.string() +
                          ": give --archive-key FILE (its archive.key), without which the "
                          "evidence in the backup cannot be read");
      }
      archive_key = *given;
    }
    if (!std::filesystem::is_regular_file(archive_key, ec)) {
      return Status::NotFound(archive_key.string() + " does not exist: the node's archive key "
                              "is needed to restore");
    }
  }
  bool made_dir = !std::filesystem::exists(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
  if (made_dir) ::chmod(dir.c_str(), 0700);
  std::filesystem::path staging = dir / ".restore-staging";
  std::filesystem::remove_all(staging, ec);
  auto fail = [&](Status st) {
    std::error_code ignored;
    std::filesystem::remove_all(staging, ignored);
    if (made_dir) std::filesystem::remove_all(dir, ignored);
    return st;
  };
  std::filesystem::create_directories(Node::StorePath(staging), ec);
  if (ec) return fail(Status::IOError("create " + staging.string() + ": " + ec.message()));
  ::chmod(staging.c_str(), 0700);
  ::chmod(Node::StorePath(staging).c_str(), 0700);
  staged_key = encrypted ? Node::KeyringPath(staging) : Node::KeyPath(staging);
  std::filesystem::copy_file(from, Node::StorePath(staging) / "data.mdb", ec);
  if (ec) return fail(Status::IOError("copy the backup " + from + ": " + ec.message()));
  std::filesystem::copy_file(key, staged_key, ec);
  if (ec) return fail(Status::IOError("copy the keys " + key.string() + ": " + ec.message()));
  if (!encrypted) {
    std::filesystem::copy_file(archive_key, Node::ArchiveKeyPath(staging), ec);
    if (ec) return fail(Status::IOError("copy " + archive_key.string() + ": " + ec.message()));
    ::chmod(Node::ArchiveKeyPath(staging).c_str(), 0600);
  }
  auto unlock = UnlockFrom(args, staging);
  if (!unlock.ok()) return fail(unlock.status());
  Status verdict = [&]() -> Status {
    StoreOptions ro;
    ro.read_only = true;
    auto opened = Node::Open(staging, ro, *unlock);
    if (!opened.ok() && opened.status().code() == Code::kPermissionDenied &&
        opened.status().message().find("opens, but its data key") != std::string::npos) {
      return Status::PermissionDenied(
          "the keyring " + key.string() + " opens, but its data key does not open this backup: "
          "the backup was made under another data key (before or after a `khronika passphrase "
          "change --rotate-data-key`, or by another node). Give the keyring that was the node's "
          "when the backup was made (--keyring FILE); nothing was restored");
    }
    if (!opened.ok()) return opened.status();
    std::unique_ptr<Node> node = std::move(opened).value();
    // With the archive key: every entry of the node's own log opens, and every plaintext byte
    // matches its author's signature; a keyring or archive.key of another node fails here.
    KH_ASSIGN_OR_RETURN(VerifyReport report,
                        VerifyStore(node->store(), VerifyOptions{&node->archive_key(), node->id()}));
    for (const std::string& p : report.problems) std::cout << "FAIL " << p << "\n";
    if (!report.clean()) {
      return Status::Corruption("the backup has " + std::to_string(report.problems.size()) +
                                " problems; nothing was restored");
    }
    std::cout << "backup verified: " << report.records << " records in " << report.origins
              << " logs, " << report.chunks << " sealed chunks, " << report.entries_opened
              << " entries opened with the archive key\n";
    return Status::Ok();
  }();
  if (!verdict.ok()) return fail(verdict);
  // The files the backup carries go beside the store; they leave the store, whose copy would
  // only go stale. A backup made before it carried them has none: said below.
  std::vector<std::string> files;
  Status unpacked = [&]() -> Status {
    KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> node, Node::Open(staging, {}, *unlock));
    return node->store().Update([&](WriteTxn& txn) -> Status {
      for (const NodeFile& f : kNodeFiles) {
        KH_ASSIGN_OR_RETURN(auto value, txn.Get(Table::kMeta, AsBytes(f.meta_key)));
        if (!value) continue;
        KH_RETURN_IF_ERROR(WriteNewFile(staging / f.name, AsChars(*value), f.mode));
        OPENSSL_cleanse(value->data(), value->size());
        KH_RETURN_IF_ERROR(txn.Delete(Table::kMeta, AsBytes(f.meta_key)));
        files.push_back(f.name);
      }
      // A backup may be older than the copies of this node's log that its peers hold:
      // appending before catching up would fork the log. Held back until a full `khronika sync`.
      if (args.Has("standalone")) return Status::Ok();
      return txn.Put(Table::kMeta, AsBytes(keys::kMetaRestorePending), AsBytes("1"));
    });
  }();
  if (!unpacked.ok()) return fail(unpacked);
  std::filesystem::path final_key = encrypted ? Node::KeyringPath(dir) : Node::KeyPath(dir);
  std::vector<std::string> kept;  // files DIR already had: never overwritten
  std::filesystem::rename(Node::StorePath(staging), Node::StorePath(dir), ec);
  if (!ec && !std::filesystem::exists(final_key)) std::filesystem::rename(staged_key, final_key, ec);
  if (!ec && !encrypted && !std::filesystem::exists(Node::ArchiveKeyPath(dir))) {
    std::filesystem::rename(Node::ArchiveKeyPath(staging), Node::ArchiveKeyPath(dir), ec);
  }
  for (const std::string& f : files) {
    if (ec) break;
    if (std::filesystem::exists(dir / f)) {
      kept.push_back(f);
      continue;
    }
    std::filesystem::rename(staging / f, dir / f, ec);
  }
  std::filesystem::remove_all(staging, ec);
  if (ec) return Status::IOError("move the restored store into place: " + ec.message());
  ::chmod(final_key.c_str(), 0600);
  std::cout << "restored into " << dir.string();
  for (size_t i = 0; i < files.size(); ++i) std::cout << (i ? ", " : " with ") << files[i];
  std::cout << (args.Has("standalone")
                    ? "\n"
                    : "; it appends again after a `khronika sync` that reaches every peer\n");
  for (const std::string& f : kept) {
    std::cerr << "kept the " << f << " already in " << dir.string() << " (the backup's was not used)\n";
  }
  if (std::find(files.begin(), files.end(), "tls.crt") == files.end() &&
      !std::filesystem::exists(dir / "tls.crt")) {
    std::cerr << "warning: this backup carries no TLS certificate (it was made before backups did): "
                 "put the node's tls.crt and tls.key in " << dir.string()
              << " from an off-site copy, or partners will refuse this node (`khronika serve "
                 "--new-certificate` makes a new one, which partners must then pin)\n";
  }
  return Status::Ok();
}

}  // namespace

std::vector<Command> ServerCommands() {
  return {
      {"serve", "run the node's HTTPS API",
       "khronika serve --data DIR [--listen HOST:PORT] [--config FILE]\n"
       "               [--tls-cert FILE --tls-key FILE] [--log-level debug|info|warn|error]\n"
       "               [--new-certificate]\n"
       "Serves on 127.0.0.1:8443 by default with the certificate made by init, and prints\n"
       "the URL and the certificate's SHA-256 fingerprint for clients to pin. Without\n"
       "DIR/tls.crt it refuses to start while the node has peers (they pin the old one),\n"
       "unless --new-certificate says to make one. Settings come\n"
       "from FILE (default DIR/khronika.conf, if present); flags override it. SIGINT or\n"
       "SIGTERM stops accepting, finishes and commits requests in flight, then exits.",
       {kData, {"listen"}, {"config"}, {"tls-cert"}, {"tls-key"}, {"log-level"}, {"new-certificate", false},
        kMapSize},
       RunServe},
      {"token create", "create an API token (printed once)",
       "khronika token create --data DIR --role admin|submitter|reader|auditor [--case ID]...\n"
       "                      [--label TEXT]\n"
       "Prints a new 256-bit token once; the node stores only its SHA-256. --case limits a\n"
       "submitter or reader token to those cases. --label is a note for `token list` (who\n"
       "holds it; at most 200 bytes).",
       {kData, {"role"}, {"case", true, true}, {"label"}, kMapSize}, RunTokenCreate},
      {"token list", "list tokens (ids, roles, cases, labels; never the secrets)",
       "khronika token list --data DIR [--json]", {kData, {"json", false}, kMapSize}, RunTokenList},
      {"token revoke", "revoke a token at once",
       "khronika token revoke --data DIR TOKEN_ID|TOKEN\n"
       "TOKEN_ID as `token list` shows it, or the token itself (khr_...), which is looked up\n"
       "by its hash and never printed.",
       {kData, kMapSize}, RunTokenRevoke},
      {"backup", "write a consistent copy of the store while the node serves",
       "khronika backup --data DIR --out FILE\n"
       "LMDB's compacting copy of one snapshot: safe while the node serves. FILE holds the\n"
       "evidence (sealed), logs, authors, roster and peers, and DIR's tls.crt, tls.key and\n"
       "khronika.conf; not the node's keys (an encrypted node's FILE is encrypted too:\n"
       "restoring it needs the node's keyring, which holds the archive key, and passphrase or\n"
       "key file; a node in clear needs node.key and archive.key).\n",
       {kData, {"out"}, kMapSize}, RunBackup},
      {"restore", "restore a backup into a new data directory, verified first",
       "khronika restore --from FILE --data DIR [--keyring FILE | --node-key FILE\n"
       "                 [--archive-key FILE]] [--standalone]\n"
       "Verifies the whole backup (ids, signatures, chains, Merkle nodes, checkpoints) against\n"
       "the node's key, and opens every entry of its own log with its archive key (author\n"
       "signatures and every plaintext byte), before anything is put in place, then writes\n"
       "back the TLS certificate,\n"
       "its key and khronika.conf the backup carries. DIR must hold no store. An encrypted\n"
       "node's backup needs its keyring (DIR/node.keyring or --keyring FILE) and its passphrase\n"
       "or key file (the keyring holds the archive key); a node in clear needs DIR/node.key or\n"
       "--node-key, the key the backup's log was signed with, and DIR/archive.key or\n"
       "--archive-key. Appending stays held\n"
       "until a `khronika sync` has reached every peer (the backup may be older than their\n"
       "copies of this node's log); --standalone is for a node with no federation.",
       {kData, {"from"}, {"node-key"}, {"archive-key"}, {"keyring"}, {"standalone", false}, kMapSize}, RunRestore},
      {"access-log", "print the custody log: who read or exported which evidence, who was given or lost a token, key changes",
       "khronika access-log --data DIR [--since YYYY-MM-DD[THH:MM:SSZ]] [--case ID]\n"
       "                    [--action ACTION]... [--json]\n"
       "Every custody event of this node's log (docs/format.md section 7.3), oldest first: reads of\n"
       "evidence content (read-content), exports (export), token grants and revocations\n"
       "(token-grant, token-revoke, one per case the token covers), passphrase changes\n"
       "(passphrase-change), key exports (key-export) and recovery acts (recovery-split,\n"
       "recovery-release). --case and --action (repeatable) keep only those events.",
       {kData, {"since"}, {"case"}, {"action", true, true}, {"json", false}, kMapSize},
       RunAccessLog},
  };
}

}  // namespace khronika::cli

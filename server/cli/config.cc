#include "config.h"

#include <charconv>
#include <sstream>

#include "commands.h"
#include "khronika/store/files.h"

namespace khronika::cli {

Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return UsageError("--listen takes HOST:PORT, got '" + text + "'");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  std::string_view p = std::string_view(text).substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || port > 65535) {
    return UsageError("--listen port must be 0 to 65535, got '" + std::string(p) + "'");
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

Status ApplyConfigFile(const std::filesystem::path& path, ServerOptions& o, LogSettings& log) {
  KH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, 1 << 20));
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::string where = path.string() + ":" + std::to_string(n) + ": ";
    size_t hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    auto trim = [](std::string s) {
      size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    line = trim(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) return Status::InvalidArgument(where + "expected key = value");
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    auto number = [&](uint64_t max, uint64_t min = 0) -> Result<uint64_t> {
      uint64_t v = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || v > max ||
          v < min) {
        return Status::InvalidArgument(where + key + " must be a whole number from " +
                                       std::to_string(min) + " to " + std::to_string(max) +
                                       ", got '" + value + "'");
      }
      return v;
    };
    auto millis = [&](uint64_t min) -> Result<std::chrono::milliseconds> {
      KH_ASSIGN_OR_RETURN(uint64_t v, number(3600000, min));
      return std::chrono::milliseconds(v);
    };
    if (key == "listen") {
      auto hp = ParseListen(value);
      if (!hp.ok()) return Status::InvalidArgument(where + "listen must be HOST:PORT");
      o.host = hp->first;
      o.port = hp->second;
    } else if (key == "tls_cert") {
      o.tls_cert = value;
    } else if (key == "tls_key") {
      o.tls_key = value;
    } else if (key == "max_connections") {
      KH_ASSIGN_OR_RETURN(o.max_connections, number(1000000));
    } else if (key == "max_json_body_bytes") {
      KH_ASSIGN_OR_RETURN(o.api.max_json_body, number(uint64_t{1} << 30));
    } else if (key == "max_handshakes") {
      KH_ASSIGN_OR_RETURN(o.max_handshakes, number(1000000));
    } else if (key == "max_handshakes_per_address") {
      KH_ASSIGN_OR_RETURN(o.max_handshakes_per_address, number(1000000, 1));
    } else if (key == "handshake_timeout_ms") {
      KH_ASSIGN_OR_RETURN(o.handshake_timeout, millis(1));
    } else if (key == "peer_connect_timeout_ms") {
      KH_ASSIGN_OR_RETURN(o.peer_deadlines.connect, millis(1));
    } else if (key == "peer_idle_timeout_ms") {
      KH_ASSIGN_OR_RETURN(o.peer_deadlines.idle, millis(1));
    } else if (key == "peer_request_timeout_ms") {
      KH_ASSIGN_OR_RETURN(o.peer_deadlines.request, millis(0));
    } else if (key == "head_timeout_ms") {
      KH_ASSIGN_OR_RETURN(uint64_t v, number(3600000));
      o.head_timeout = std::chrono::milliseconds(v);
    } else if (key == "body_timeout_ms") {
      KH_ASSIGN_OR_RETURN(uint64_t v, number(3600000));
      o.body_timeout = std::chrono::milliseconds(v);
    } else if (key == "worker_threads") {
      KH_ASSIGN_OR_RETURN(o.worker_threads, number(4096));
      if (o.worker_threads == 0) return Status::InvalidArgument(where + "worker_threads must be at least 1");
    } else if (key == "sync_interval_s") {
      KH_ASSIGN_OR_RETURN(uint64_t v, number(7 * 24 * 3600));
      o.sync_interval = std::chrono::seconds(v);
    } else if (key == "custody_interval_ms") {
      // Custody events (docs/format.md section 7.3) are sealed into the log this often.
      KH_ASSIGN_OR_RETURN(uint64_t v, number(3600000));
      if (v == 0) return Status::InvalidArgument(where + "custody_interval_ms must be at least 1");
      o.custody_interval = std::chrono::milliseconds(v);
    } else if (key == "io_threads") {
      KH_ASSIGN_OR_RETURN(o.io_threads, number(1024));
    } else if (key == "peer") {
      std::istringstream words(value);
      Peer peer;
      std::string id, extra;
      words >> peer.url >> id >> peer.cert_sha256 >> extra;
      auto node_id = ParseHashHex(id);
      auto fp = ParseHashHex(peer.cert_sha256);
      if (peer.url.rfind("https://", 0) != 0 || !node_id.ok() || !fp.ok() || !extra.empty()) {
        return Status::InvalidArgument(where + "peer must be 'https://HOST:PORT NODE_ID CERT_SHA256' "
                                       "(64 hex each), got '" + value + "'");
      }
      peer.node_id = *node_id;
      log.peers.push_back(std::move(peer));
    } else if (key == "tiles_public") {  // C2SP tlog-tiles readable without a token
      if (value != "true" && value != "false") {
        return Status::InvalidArgument(where + "tiles_public must be true or false, got '" +
                                       value + "'");
      }
      o.api.tiles_public = value == "true";
    } else if (key == "tsa") {
      // RFC 3161 time-stamping authorities (#16): `tsa = URL CA_FILE`, one line each.
      std::istringstream words(value);
      TsaConfig tsa;
      std::string ca, extra;
      words >> tsa.url >> ca >> extra;
      if (tsa.url.empty() || ca.empty() || !extra.empty()) {
        return Status::InvalidArgument(where + "tsa must be 'URL CA_FILE', got '" + value + "'");
      }
      if (auto url = ParseTsaUrl(tsa.url); !url.ok()) {
        return Status::InvalidArgument(where + url.status().message());
      }
      // A relative CA file is found beside the configuration file.
      tsa.ca_file = std::filesystem::path(ca).is_absolute() ? std::filesystem::path(ca)
                                                             : path.parent_path() / ca;
      if (o.timestamps.tsas.size() >= 16) {
        return Status::InvalidArgument(where + "at most 16 tsa lines");
      }
      o.timestamps.tsas.push_back(std::move(tsa));
    } else if (key == "tsa_interval_s") {
      KH_ASSIGN_OR_RETURN(uint64_t v, number(30 * 24 * 3600, 1));
      o.timestamps.interval = std::chrono::seconds(v);
    } else if (key == "tsa_timeout_ms") {
      KH_ASSIGN_OR_RETURN(o.timestamps.deadline, millis(1));
    } else if (key == "witness") {  // C2SP tlog-witness (docs/operator.md, "External witnesses")
      auto w = ParseExternalWitness(value);
      if (!w.ok()) {
        return Status::InvalidArgument(where + w.status().message() + ", got '" + value + "'");
      }
      o.witnesses.push_back(std::move(*w));
    } else if (key == "scrub_interval_h") {
      KH_ASSIGN_OR_RETURN(uint64_t v, number(24 * 365));
      log.scrub_interval = std::chrono::hours(v);
    } else if (key == "log_level") {
      auto l = ParseLogLevel(value);
      if (!l.ok()) return Status::InvalidArgument(where + l.status().message() + ", got '" + value + "'");
      log.level = *l;
    } else if (key == "log_format") {
      auto f = ParseLogFormat(value);
      if (!f.ok()) return Status::InvalidArgument(where + f.status().message() + ", got '" + value + "'");
      log.format = *f;
    } else {
      return Status::InvalidArgument(where + "unknown key '" + key + "'");
    }
  }
  return Status::Ok();
}

std::optional<std::filesystem::path> ConfigFileOf(const Args& args, const std::filesystem::path& dir) {
  if (auto file = args.Get("config")) return std::filesystem::path(*file);
  std::filesystem::path fallback = dir / "khronika.conf";
  if (std::filesystem::exists(fallback)) return fallback;
  return std::nullopt;
}

Result<ClientDeadlines> PeerDeadlinesOf(const Args& args, const std::filesystem::path& dir) {
  ServerOptions options;
  LogSettings ignored;
  if (auto file = ConfigFileOf(args, dir)) KH_RETURN_IF_ERROR(ApplyConfigFile(*file, options, ignored));
  return options.peer_deadlines;
}

}  // namespace khronika::cli

// khronika.conf (docs/operator.md, "Settings"): `serve` reads all of it; `sync` and `scrub` read
// it for how long to wait on peers.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "args.h"
#include "khronika/http/client.h"
#include "khronika/http/logging.h"
#include "khronika/http/server.h"
#include "khronika/replication/roster.h"

namespace khronika::cli {

// Settings of khronika.conf that are not ServerOptions.
struct LogSettings {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  std::vector<Peer> peers;  // `peer = URL NODE_ID CERT_SHA256` lines, added to the store at start
  std::chrono::hours scrub_interval{24};  // 0: only `khronika scrub`
};

// `--listen` and `listen =`: HOST:PORT, [IPv6]:PORT.
Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& text);

// Reads `key = value` lines into `o` and `log`. Unknown keys and bad values are errors naming
// the file, line and key.
Status ApplyConfigFile(const std::filesystem::path& path, ServerOptions& o, LogSettings& log);

// The file to read: --config FILE, else DIR/khronika.conf if it exists, else none.
std::optional<std::filesystem::path> ConfigFileOf(const Args& args, const std::filesystem::path& dir);

// The deadlines for reaching peers (peer_*_timeout_ms) from ConfigFileOf(args, dir), or the
// defaults if there is no file.
Result<ClientDeadlines> PeerDeadlinesOf(const Args& args, const std::filesystem::path& dir);

}  // namespace khronika::cli

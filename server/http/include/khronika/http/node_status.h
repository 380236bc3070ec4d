// What an operator and an auditor look at, computed once for `khronika status --json`, the
// console's operator view (GET /v1/node/status), its auditor view (GET /v1/logs) and
// GET /v1/conflicts, so the command line and the API cannot drift apart (docs/api.md 7.16-7.19).
//
// Each function reads the store only (one or a few read transactions) and is safe to call from
// any thread.
#pragma once

#include <nlohmann/json.hpp>

#include "khronika/log/node.h"

namespace khronika {

// `khronika status --json`: node_id, name, logs (origin, records, local, checkpoint_size,
// cosigners: member ids), peers (node_id, url, and after a first pull last_attempt_ms,
// last_success_ms, lag_records, last_error), conflicts (a count), store_used_bytes,
// store_map_bytes, last_scrub (or null).
Result<nlohmann::json> NodeStatusJson(Node& node);

// Every log held: origin, local, records, public_key (the origin's Ed25519 key, hex: its SHA-256
// is the origin id), and its latest checkpoint: checkpoint_size and checkpoint (the signed note
// with every stored cosignature line appended; both null for a log with no checkpoint yet), and
// cosignatures (those that verify under a member's witness key: member, name, vkey, timestamp).
// This node's own log first, then the others in origin order.
Result<nlohmann::json> LogsJson(Node& node);

// `khronika conflicts --json` as one array: origin, detected_ms, proven, held_checkpoint,
// presented_checkpoint.
Result<nlohmann::json> ConflictsJson(Node& node);

}  // namespace khronika

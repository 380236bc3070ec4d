#include "khronika/http/metrics.h"

#include <sstream>

namespace khronika {

void Metrics::ObserveRequest(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  Histogram& h = latency_[route];
  size_t i = 0;
  while (i < kBucketCount && seconds > kBuckets[i]) ++i;
  ++h.counts[i];
  h.sum += seconds;
  ++h.count;
}

std::string Metrics::Render(const StoreGauges& store) const {
  std::ostringstream out;
  std::lock_guard lock(mu_);
  out << "# HELP khronika_http_requests_total HTTP requests by route and status.\n"
      << "# TYPE khronika_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out << "khronika_http_requests_total{route=\"" << key.first << "\",status=\"" << key.second
        << "\"} " << n << "\n";
  }
  out << "# HELP khronika_http_request_duration_seconds Time from request head to response.\n"
      << "# TYPE khronika_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBucketCount; ++i) {
      cumulative += h.counts[i];
      out << "khronika_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\""
          << kBuckets[i] << "\"} " << cumulative << "\n";
    }
    out << "khronika_http_request_duration_seconds_bucket{route=\"" << route
        << "\",le=\"+Inf\"} " << h.count << "\n"
        << "khronika_http_request_duration_seconds_sum{route=\"" << route << "\"} " << h.sum
        << "\n"
        << "khronika_http_request_duration_seconds_count{route=\"" << route << "\"} " << h.count
        << "\n";
  }
  out << "# HELP khronika_entries_appended_total Entries appended to the local log.\n"
      << "# TYPE khronika_entries_appended_total counter\n"
      << "khronika_entries_appended_total " << entries_appended_ << "\n"
      << "# HELP khronika_bytes_stored_total Chunk bytes newly stored.\n"
      << "# TYPE khronika_bytes_stored_total counter\n"
      << "khronika_bytes_stored_total " << bytes_stored_ << "\n"
      << "# HELP khronika_commit_transactions_total Write transactions of the group committer.\n"
      << "# TYPE khronika_commit_transactions_total counter\n"
      << "khronika_commit_transactions_total " << store.commit_transactions << "\n"
      << "# HELP khronika_commit_entries_total Entries committed by the group committer.\n"
      << "# TYPE khronika_commit_entries_total counter\n"
      << "khronika_commit_entries_total " << store.commit_entries << "\n"
      << "# HELP khronika_commit_chunks_total Upload chunks committed by the group committer.\n"
      << "# TYPE khronika_commit_chunks_total counter\n"
      << "khronika_commit_chunks_total " << store.commit_chunks << "\n"
      << "# HELP khronika_store_used_bytes Bytes used in the LMDB data file.\n"
      << "# TYPE khronika_store_used_bytes gauge\n"
      << "khronika_store_used_bytes " << store.used_bytes << "\n"
      << "# HELP khronika_store_map_bytes Size limit of the LMDB map.\n"
      << "# TYPE khronika_store_map_bytes gauge\n"
      << "khronika_store_map_bytes " << store.map_bytes << "\n"
      << "# HELP khronika_open_connections Open client connections.\n"
      << "# TYPE khronika_open_connections gauge\n"
      << "khronika_open_connections " << open_connections_ << "\n"
      << "# HELP khronika_connections_refused_total New connections closed at once, by the limit "
         "they met.\n"
      << "# TYPE khronika_connections_refused_total counter\n"
      << "khronika_connections_refused_total{reason=\"max_connections\"} " << refused_[0] << "\n"
      << "khronika_connections_refused_total{reason=\"max_handshakes\"} " << refused_[1] << "\n"
      << "khronika_connections_refused_total{reason=\"max_handshakes_per_address\"} " << refused_[2]
      << "\n"
      << "# HELP khronika_tls_handshake_timeouts_total Connections closed because their TLS "
         "handshake did not finish within handshake_timeout_ms.\n"
      << "# TYPE khronika_tls_handshake_timeouts_total counter\n"
      << "khronika_tls_handshake_timeouts_total " << handshakes_timed_out_ << "\n"
      << "# HELP khronika_records_replicated_total Records pulled from peers and committed.\n"
      << "# TYPE khronika_records_replicated_total counter\n"
      << "khronika_records_replicated_total " << records_replicated_ << "\n"
      << "# HELP khronika_sync_failures_total Scheduled pulls from a peer that failed.\n"
      << "# TYPE khronika_sync_failures_total counter\n"
      << "khronika_sync_failures_total " << sync_failures_ << "\n"
      << "# HELP khronika_conflicting_checkpoints Signed checkpoints kept as proof that an origin "
         "rewrote or forked its log.\n"
      << "# TYPE khronika_conflicting_checkpoints gauge\n"
      << "khronika_conflicting_checkpoints " << store.conflicts << "\n"
      << "# HELP khronika_scrub_last_finished_seconds When the last scrub finished (0: never).\n"
      << "# TYPE khronika_scrub_last_finished_seconds gauge\n"
      << "khronika_scrub_last_finished_seconds " << store.scrub_finished_ms / 1000 << "\n"
      << "# HELP khronika_scrub_damaged Items the last scrub found damaged or missing.\n"
      << "# TYPE khronika_scrub_damaged gauge\n"
      << "khronika_scrub_damaged " << store.scrub_damaged << "\n"
      << "# HELP khronika_scrub_repaired Of those, items repaired from a peer.\n"
      << "# TYPE khronika_scrub_repaired gauge\n"
      << "khronika_scrub_repaired " << store.scrub_repaired << "\n"
      << "# HELP khronika_scrub_unrepaired Of those, items no peer could supply: act on these.\n"
      << "# TYPE khronika_scrub_unrepaired gauge\n"
      << "khronika_scrub_unrepaired " << store.scrub_unrepaired << "\n"
      << "# HELP khronika_peer_lag_records Records a peer held that this node did not, after the "
         "last pull from it.\n"
      << "# TYPE khronika_peer_lag_records gauge\n";
  for (const auto& [peer, lag] : store.peer_lag) {
    out << "khronika_peer_lag_records{peer=\"" << peer << "\"} " << lag << "\n";
  }
  // RFC 3161 timestamps (#16)
  out << "# HELP khronika_timestamps_stored_total Tokens from time-stamping authorities that "
         "passed every check and were stored.\n"
      << "# TYPE khronika_timestamps_stored_total counter\n"
      << "khronika_timestamps_stored_total " << timestamps_stored_ << "\n"
      << "# HELP khronika_timestamp_failures_total Asks of a time-stamping authority that gave no "
         "token: down, slow, or a token refused.\n"
      << "# TYPE khronika_timestamp_failures_total counter\n"
      << "khronika_timestamp_failures_total " << timestamp_failures_ << "\n";
  return out.str();
}

}  // namespace khronika

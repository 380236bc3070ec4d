#include "khronika/http/peer_transport.h"

#include <nlohmann/json.hpp>

namespace khronika {
namespace {

bool HostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// Replaces each occurrence of `what` that no host-name character touches on either side.
void ReplaceWhole(std::string& s, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at)) {
    size_t end = at + what.size();
    if ((at > 0 && HostChar(s[at - 1])) || (end < s.size() && HostChar(s[end]))) {
      at = end;
      continue;
    }
    s.replace(at, what.size(), with);
    at += with.size();
  }
}

}  // namespace

std::string WithoutPeerAddress(std::string message, const Peer& peer) {
  const std::string name = "peer " + ToHex(peer.node_id).substr(0, 16);
  constexpr std::string_view kScheme = "https://";
  for (size_t at = message.find(peer.url); !peer.url.empty() && at != std::string::npos;
       at = message.find(peer.url, at + name.size())) {
    message.replace(at, peer.url.size(), name);
  }
  // The host alone ("resolve HOST: ..."), and host:port.
  std::string_view authority(peer.url);
  if (authority.substr(0, kScheme.size()) == kScheme) authority.remove_prefix(kScheme.size());
  authority = authority.substr(0, authority.find('/'));
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {  // [IPv6]:port
    size_t close = host.find(']');
    host = close == std::string_view::npos ? host.substr(1) : host.substr(1, close - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  ReplaceWhole(message, authority, name);
  ReplaceWhole(message, host, name);
  return message;
}

Result<std::unique_ptr<HttpsPeerTransport>> HttpsPeerTransport::Connect(
    const Peer& peer, const PeerClientOptions& options) {
  ClientOptions o;
  o.url = peer.url;
  o.pin_sha256 = peer.cert_sha256;
  o.client_cert = options.tls_cert;
  o.client_key = options.tls_key;
  o.deadlines = options.deadlines;
  o.cancel = options.cancel;
  KH_ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, HttpsClient::Connect(o));
  return std::unique_ptr<HttpsPeerTransport>(new HttpsPeerTransport(std::move(client)));
}

Result<std::string> HttpsPeerTransport::Get(const std::string& target, const char* what) {
  KH_ASSIGN_OR_RETURN(HttpResult r, client_->Request("GET", target));
  if (r.status != 200) return Status::IOError(std::string(what) + ": " + ErrorMessage(r));
  return std::move(r.body);
}

Result<std::vector<Head>> HttpsPeerTransport::Heads() {
  KH_ASSIGN_OR_RETURN(std::string body, Get("/v1/sync/heads", "heads"));
  return HeadsFromJson(body);
}

Result<std::vector<Hash>> HttpsPeerTransport::ConsistencyProof(const Hash& origin, uint64_t from,
                                                              uint64_t to) {
  KH_ASSIGN_OR_RETURN(std::string body,
                      Get("/v1/sync/consistency?origin=" + ToHex(origin) + "&from=" +
                              std::to_string(from) + "&to=" + std::to_string(to),
                          "consistency proof"));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("proof") || !j["proof"].is_array() || j["proof"].size() > 128) {
    return Status::Corruption("consistency proof: malformed answer");
  }
  std::vector<Hash> proof;
  for (const auto& h : j["proof"]) {
    if (!h.is_string()) return Status::Corruption("consistency proof: malformed hash");
    KH_ASSIGN_OR_RETURN(Hash p, ParseHashHex(h.get<std::string>()));
    proof.push_back(p);
  }
  return proof;
}

Result<Bytes> HttpsPeerTransport::Pack(const Hash& origin, uint64_t from, uint64_t to) {
  KH_ASSIGN_OR_RETURN(std::string body,
                      Get("/v1/sync/pack?origin=" + ToHex(origin) + "&from=" + std::to_string(from) +
                              "&to=" + std::to_string(to),
                          "pack"));
  return Bytes(body.begin(), body.end());
}

Result<Bytes> HttpsPeerTransport::Chunks(const std::vector<Hash>& ids) {
  nlohmann::json a = nlohmann::json::array();
  for (const Hash& h : ids) a.push_back(ToHex(h));
  const std::string ask = nlohmann::json{{"ids", a}}.dump();
  Bytes answer;
  KH_ASSIGN_OR_RETURN(HttpResult r,
                      client_->RequestForBytes("POST", "/v1/sync/chunks", AsBytes(ask), answer));
  if (r.status != 200) return Status::IOError("chunks: " + ErrorMessage(r));
  return answer;
}

Result<std::string> HttpsPeerTransport::Timestamps(const Hash& origin, uint64_t size) {
  KH_ASSIGN_OR_RETURN(std::string body,
                      Get("/v1/sync/timestamps?origin=" + ToHex(origin) +
                              "&size=" + std::to_string(size),
                          "timestamps"));
  if (body.size() > kMaxTimestampsAnswerBytes) return Status::Corruption("timestamps: too large");
  return body;
}

Status HttpsPeerTransport::Notify() {
  KH_ASSIGN_OR_RETURN(HttpResult r, client_->Request("POST", "/v1/sync/notify", "{}"));
  if (r.status != 202) return Status::IOError("notify: " + ErrorMessage(r));
  return Status::Ok();
}

}  // namespace khronika

// TLS material for nodes: a self-signed ECDSA P-256 certificate made at `init`, and the SHA-256
// fingerprints by which clients and peers pin it (no certificate authority needed).
#pragma once

#include <filesystem>
#include <string>

#include "khronika/schemas/bytes.h"

struct ssl_st;  // OpenSSL's SSL

namespace khronika {

// Writes a new P-256 key (mode 0600) and a self-signed certificate valid for ten years for
// localhost, 127.0.0.1, ::1 and `host_name`. Refuses to overwrite either file.
Status CreateSelfSignedCertificate(const std::filesystem::path& cert_path,
                                   const std::filesystem::path& key_path,
                                   const std::string& host_name);

// Lowercase hex SHA-256 of the DER encoding of the certificate the other end of a TLS
// connection presented, or "" if it presented none. Peers and nodes are pinned by this alone.
std::string PeerCertificateSha256(ssl_st* ssl);

// Lowercase hex SHA-256 of the DER encoding of the first certificate in a PEM file.
Result<std::string> CertificateFingerprint(const std::filesystem::path& cert_path);

// Accepts "sha256:HEX", "HEX" or the colon-separated form openssl prints; returns 64 hex chars.
Result<std::string> NormalizeFingerprint(std::string_view text);

}  // namespace khronika

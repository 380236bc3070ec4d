// TLS material for nodes: a self-signed ECDSA P-256 certificate made at `init`, and the SHA-256
// fingerprints by which clients and peers pin it (no certificate authority needed).
#pragma once

#include <filesystem>
#include <string>

#include "khronika/schemas/bytes.h"

struct ssl_st;      // OpenSSL's SSL
struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace khronika {

// Writes a new P-256 key (mode 0600) and a self-signed certificate valid for ten years for
// localhost, 127.0.0.1 and ::1, with the subject and issuer "CN=khronika node". It names nothing
// else: tls.crt lies unencrypted on the disk and goes to anyone who opens a connection, while
// the node's name is meant to be readable only with the data key. Clients and peers pin the
// certificate's fingerprint, so they need no name in it. Refuses to overwrite either file.
Status CreateSelfSignedCertificate(const std::filesystem::path& cert_path,
                                   const std::filesystem::path& key_path);

// The TLS every Khronika endpoint speaks, server and client alike: TLS 1.3 only, no
// renegotiation or compression, and only its three AEAD suites, named so that a system-wide
// OpenSSL configuration cannot add TLS_AES_128_CCM_8_SHA256 (a 64-bit tag).
Status RestrictToTls13Aead(ssl_ctx_st* ctx);

// Lowercase hex SHA-256 of the DER encoding of the certificate the other end of a TLS
// connection presented, or "" if it presented none. Peers and nodes are pinned by this alone.
std::string PeerCertificateSha256(ssl_st* ssl);

// Lowercase hex SHA-256 of the DER encoding of the first certificate in a PEM file.
Result<std::string> CertificateFingerprint(const std::filesystem::path& cert_path);

// Accepts "sha256:HEX", "HEX" or the colon-separated form openssl prints; returns 64 hex chars.
Result<std::string> NormalizeFingerprint(std::string_view text);

}  // namespace khronika

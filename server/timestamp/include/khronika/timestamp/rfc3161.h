// RFC 3161 timestamps over checkpoints, from time-stamping authorities (TSAs) other than the
// node (docs/format.md section 10.2). What is stamped is the checkpoint body (section 10): the
// bytes the origin signed, so that anyone holding the note can recompute the imprint with
// `sed '/^$/,$d' checkpoint.note | sha256sum` and check a token with `openssl ts -verify`.
//
// Pure functions over bytes (OpenSSL's TS_* API); thread-safe; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "khronika/schemas/bytes.h"

namespace khronika {

// Bounds on what a TSA or a bundle hands us: a TimeStampResp or TimeStampToken (DER), and a CA
// file (PEM). A real token with its certificate chain is 3 to 10 KiB.
inline constexpr size_t kMaxTimestampBytes = 64 * 1024;
inline constexpr size_t kMaxTsaCaFileBytes = 1 << 20;

// SHA-256 of the checkpoint body: the message imprint of every token over that checkpoint.
Hash TimestampImprint(std::string_view checkpoint_body);

// A TimeStampReq: version 1, SHA-256 imprint, a fresh random 128-bit nonce, certReq true (so
// the token carries the TSA's certificate and can be checked offline).
struct TimestampQuery {
  Bytes der;
  Hash imprint{};
  Bytes nonce;  // big-endian, positive
};
Result<TimestampQuery> MakeTimestampQuery(std::string_view checkpoint_body);

// A token that passed every check.
struct TimestampToken {
  Bytes token;              // the TimeStampToken (CMS SignedData, DER): what is stored and bundled
  int64_t gen_time_s = 0;   // the TSA's genTime, seconds since the Unix epoch (fraction dropped)
  std::string gen_time;     // the same as RFC 3339 UTC, "2026-12-06T23:05:57Z"
  std::string tsa_name;     // the signer certificate's subject, RFC 2253
  Hash tsa_cert_sha256{};   // SHA-256 of the signer certificate (DER)
  std::string chain_pem;    // the verified chain, signer first, the CA of the CA file last
};

// Checks a TSA's answer to `query`, in this order, and refuses with an error naming the first
// problem: at most kMaxTimestampBytes of strict DER; status granted (or grantedWithMods); the
// imprint is SHA-256 and equals the query's ("wrong message imprint"); the nonce equals the
// query's ("wrong nonce"); the signer certificate, carried in the token, chains to a certificate
// of `ca_pem` at the present time with the timeStamping extended key usage, critical and alone
// (RFC 3161 2.3) ("untrusted TSA certificate ...", "... certificate has expired", ...); the CMS
// signature and its ESS signing-certificate attribute verify.
Result<TimestampToken> VerifyTimestampResponse(ByteView response_der, const TimestampQuery& query,
                                               std::string_view ca_pem);

// Checks a stored or bundled token offline, over `checkpoint_body`: as above without the nonce
// (only the asker knew it), and the chain at the token's own genTime rather than now, so that a
// token stays checkable after the TSA's certificate expires (as `openssl ts -verify -attime`).
Result<TimestampToken> VerifyTimestampToken(ByteView token_der, std::string_view checkpoint_body,
                                            std::string_view ca_pem);

// The CA certificates of a verified chain (TimestampToken::chain_pem): every certificate but
// the signer's, or the signer's alone when it is its own trust anchor. What a bundle carries
// as the TSA's CA file.
std::string TsaCaCertificates(std::string_view chain_pem);

}  // namespace khronika

#include "khronika/http/tls.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "khronika/schemas/crypto.h"
#include "khronika/store/files.h"

namespace khronika {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

std::string DrainErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

// The same for every node: see CreateSelfSignedCertificate.
constexpr char kCertificateCommonName[] = "khronika node";

}  // namespace

Status CreateSelfSignedCertificate(const std::filesystem::path& cert_path,
                                   const std::filesystem::path& key_path) {
  std::unique_ptr<EVP_PKEY, Free> key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, Free> cert(X509_new());
  if (!key || !cert) return Status::IOError("certificate: " + DrainErrors());
  uint8_t serial[16];
  RandomBytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_set_version(cert.get(), 2);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(kCertificateCommonName), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  // For `curl --cacert tls.crt https://127.0.0.1:PORT` on the node's own host; everyone else pins.
  const char* san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san},
                            std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                            std::pair{NID_key_usage, "critical,digitalSignature"},
                            std::pair{NID_ext_key_usage, "serverAuth,clientAuth"}}) {
    std::unique_ptr<X509_EXTENSION, Free> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || !X509_add_ext(cert.get(), ext.get(), -1)) {
      return Status::IOError("certificate extension: " + DrainErrors());
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Status::IOError("certificate signature: " + DrainErrors());
  }
  std::unique_ptr<BIO, Free> key_bio(BIO_new(BIO_s_mem())), cert_bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ||
      !PEM_write_bio_X509(cert_bio.get(), cert.get())) {
    return Status::IOError("certificate encoding: " + DrainErrors());
  }
  KH_RETURN_IF_ERROR(WriteNewFile(key_path, BioToString(key_bio.get()), 0600));
  return WriteNewFile(cert_path, BioToString(cert_bio.get()), 0644);
}

namespace {
// "" if the certificate cannot be encoded.
std::string DerSha256(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) return "";
  std::string fp = ToHex(Sha256(ByteView(der, static_cast<size_t>(len))));
  OPENSSL_free(der);
  return fp;
}
}  // namespace

std::string PeerCertificateSha256(ssl_st* ssl) {
  std::unique_ptr<X509, Free> cert(SSL_get1_peer_certificate(ssl));
  return cert ? DerSha256(cert.get()) : "";
}

Result<std::string> CertificateFingerprint(const std::filesystem::path& cert_path) {
  KH_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(cert_path, 256 * 1024));
  std::unique_ptr<BIO, Free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<X509, Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::InvalidArgument(cert_path.string() + ": not a PEM certificate");
  std::string fp = DerSha256(cert.get());
  if (fp.empty()) return Status::InvalidArgument(cert_path.string() + ": cannot encode certificate");
  return fp;
}

Result<std::string> NormalizeFingerprint(std::string_view text) {
  if (text.substr(0, 7) == "sha256:" || text.substr(0, 7) == "SHA256:") text.remove_prefix(7);
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  KH_ASSIGN_OR_RETURN(Hash h, ParseHashHex(hex));
  return ToHex(h);
}

Status RestrictToTls13Aead(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (SSL_CTX_set_ciphersuites(
          ctx, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256") != 1) {
    return Status::InvalidArgument("this OpenSSL offers none of the TLS 1.3 AEAD suites");
  }
  return Status::Ok();
}

}  // namespace khronika

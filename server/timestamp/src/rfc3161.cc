#include "khronika/timestamp/rfc3161.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <ctime>
#include <memory>
#include <optional>

#include "khronika/schemas/crypto.h"

namespace khronika {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Free(p); }
};
using TsReq = std::unique_ptr<TS_REQ, Deleter<TS_REQ_free>>;
using TsResp = std::unique_ptr<TS_RESP, Deleter<TS_RESP_free>>;
using TstInfo = std::unique_ptr<TS_TST_INFO, Deleter<TS_TST_INFO_free>>;
using TsImprint = std::unique_ptr<TS_MSG_IMPRINT, Deleter<TS_MSG_IMPRINT_free>>;
using TsVerifyCtx = std::unique_ptr<TS_VERIFY_CTX, Deleter<TS_VERIFY_CTX_free>>;
using Pkcs7 = std::unique_ptr<PKCS7, Deleter<PKCS7_free>>;
using Algor = std::unique_ptr<X509_ALGOR, Deleter<X509_ALGOR_free>>;
using Asn1Int = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
struct CertStackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }  // a macro: no function pointer
};
using CertStack = std::unique_ptr<STACK_OF(X509), CertStackFree>;

// The first error of OpenSSL's queue (its reason and any data attached), and the queue emptied.
std::string DrainErrors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags);
  if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    out = reason != nullptr ? reason : "error " + std::to_string(e);
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
      out += " (" + std::string(data) + ")";
    }
  }
  ERR_clear_error();
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string NameOf(const X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio) return "?";
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  std::string name(data, n > 0 ? static_cast<size_t>(std::min<long>(n, 1024)) : 0);
  // A name goes into logs and reports: no control bytes.
  for (char& c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return name;
}

std::string PemOf(const X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), const_cast<X509*>(cert)) != 1) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

Result<Hash> CertHash(const X509* cert) {
  unsigned char* der = nullptr;
  int n = i2d_X509(cert, &der);
  if (n <= 0) return Status::Corruption("the TSA certificate does not encode");
  Hash h = Sha256(ByteView(der, static_cast<size_t>(n)));
  OPENSSL_free(der);
  return h;
}

// The certificates of a CA file, in a store that checks chains for time stamping.
Result<Store> LoadCaFile(std::string_view ca_pem) {
  if (ca_pem.size() > kMaxTsaCaFileBytes) {
    return Status::InvalidArgument("the TSA CA file is over " + std::to_string(kMaxTsaCaFileBytes) +
                                   " bytes");
  }
  Store store(X509_STORE_new());
  Bio bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  if (!store || !bio) return Status::IOError("out of memory");
  int count = 0;
  while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509Ptr cert(raw);
    if (X509_STORE_add_cert(store.get(), cert.get()) != 1) {
      return Status::InvalidArgument("the TSA CA file: " + DrainErrors());
    }
    ++count;
  }
  ERR_clear_error();  // the loop ends on "no start line"
  if (count == 0) return Status::InvalidArgument("the TSA CA file holds no PEM certificate");
  return store;
}

std::string Rfc3339(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool ChainIsUntrusted(int error) {
  switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_CERT_UNTRUSTED:
      return true;
    default:
      return false;
  }
}

// Every check of a token but the nonce. The chain must be valid now, or with `at_gen_time` at the
// token's own genTime.
Result<TimestampToken> CheckToken(PKCS7* token, const TS_TST_INFO* info, const Hash& imprint,
                                  std::string_view ca_pem, bool at_gen_time) {
  const TS_MSG_IMPRINT* mi = TS_TST_INFO_get_msg_imprint(const_cast<TS_TST_INFO*>(info));
  const X509_ALGOR* alg = TS_MSG_IMPRINT_get_algo(const_cast<TS_MSG_IMPRINT*>(mi));
  const ASN1_OBJECT* alg_obj = nullptr;
  X509_ALGOR_get0(&alg_obj, nullptr, nullptr, alg);
  if (alg_obj == nullptr || OBJ_obj2nid(alg_obj) != NID_sha256) {
    return Status::Corruption("wrong message imprint: the token's hash algorithm is not SHA-256");
  }
  const ASN1_OCTET_STRING* msg = TS_MSG_IMPRINT_get_msg(const_cast<TS_MSG_IMPRINT*>(mi));
  if (msg == nullptr || ASN1_STRING_length(msg) != 32 ||
      !ConstantTimeEqual(ByteView(ASN1_STRING_get0_data(msg), 32), imprint)) {
    return Status::Corruption("wrong message imprint: the token is not over this checkpoint");
  }

  TimestampToken out;
  const ASN1_GENERALIZEDTIME* gen = TS_TST_INFO_get_time(info);
  std::tm tm{};
  if (gen == nullptr || ASN1_TIME_to_tm(gen, &tm) != 1) {
    return Status::Corruption("the token's genTime does not parse");
  }
  out.gen_time_s = static_cast<int64_t>(timegm(&tm));
  out.gen_time = Rfc3339(out.gen_time_s);

  if (!PKCS7_type_is_signed(token)) return Status::Corruption("the token is not CMS SignedData");
  STACK_OF(X509)* carried = token->d.sign != nullptr ? token->d.sign->cert : nullptr;
  CertStack signers(PKCS7_get0_signers(token, nullptr, 0));
  ERR_clear_error();
  if (!signers || sk_X509_num(signers.get()) != 1) {
    return Status::Corruption("the token does not carry its TSA's certificate (certReq)");
  }
  X509* signer = sk_X509_value(signers.get(), 0);
  out.tsa_name = NameOf(signer);
  KH_ASSIGN_OR_RETURN(out.tsa_cert_sha256, CertHash(signer));

  KH_ASSIGN_OR_RETURN(Store store, LoadCaFile(ca_pem));
  if (at_gen_time) X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()), out.gen_time_s);
  {
    // The chain first, for a refusal that names its reason (TS_RESP_verify_signature's says only
    // "certificate verify error"); the purpose requires the timeStamping key usage.
    StoreCtx ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), signer, carried) != 1) {
      return Status::IOError("X509_STORE_CTX_init: " + DrainErrors());
    }
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_TIMESTAMP_SIGN);
    if (X509_verify_cert(ctx.get()) != 1) {
      int error = X509_STORE_CTX_get_error(ctx.get());
      std::string reason = X509_verify_cert_error_string(error);
      ERR_clear_error();
      if (error == X509_V_ERR_INVALID_PURPOSE) {
        return Status::PermissionDenied("TSA certificate " + out.tsa_name +
                                        " refused: it is not for time stamping (its extended key "
                                        "usage must be timeStamping alone, critical)");
      }
      if (ChainIsUntrusted(error)) {
        return Status::PermissionDenied("untrusted TSA certificate " + out.tsa_name + ": " +
                                        reason + " (no chain to the TSA's CA file)");
      }
      return Status::PermissionDenied("TSA certificate " + out.tsa_name + " refused: " + reason +
                                      (at_gen_time ? " at the token's time " + out.gen_time : ""));
    }
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
    for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
      out.chain_pem += PemOf(sk_X509_value(chain, i));
    }
  }

  // The CMS signature, the ESS signing-certificate binding and the version, by OpenSSL's own
  // verifier (it checks the chain again, with the same store and time).
  TsVerifyCtx vctx(TS_VERIFY_CTX_new());
  if (!vctx || X509_STORE_up_ref(store.get()) != 1) return Status::IOError("out of memory");
  TS_VERIFY_CTX_set_flags(vctx.get(), TS_VFY_SIGNATURE | TS_VFY_VERSION);
  TS_VERIFY_CTX_set_store(vctx.get(), store.get());  // the context owns the reference taken
  if (TS_RESP_verify_token(vctx.get(), token) != 1) {
    return Status::Corruption("the token's signature does not verify: " + DrainErrors());
  }

  unsigned char* der = nullptr;
  int n = i2d_PKCS7(token, &der);
  if (n <= 0) return Status::Corruption("the token does not encode");
  out.token.assign(der, der + n);
  OPENSSL_free(der);
  return out;
}

}  // namespace

Hash TimestampImprint(std::string_view checkpoint_body) { return Sha256(checkpoint_body); }

std::string TsaCaCertificates(std::string_view chain_pem) {
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----\n";
  size_t first_end = chain_pem.find(kEnd);
  if (first_end == std::string_view::npos) return "";
  std::string_view rest = chain_pem.substr(first_end + kEnd.size());
  if (rest.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) {
    return std::string(chain_pem);
  }
  return std::string(rest);
}

Result<TimestampQuery> MakeTimestampQuery(std::string_view checkpoint_body) {
  TimestampQuery q;
  q.imprint = TimestampImprint(checkpoint_body);
  q.nonce.resize(16);
  RandomBytes(q.nonce.data(), q.nonce.size());
  q.nonce[0] = static_cast<uint8_t>((q.nonce[0] & 0x7f) | 0x40);  // positive, 127 bits or so

  TsReq req(TS_REQ_new());
  TsImprint mi(TS_MSG_IMPRINT_new());
  Algor alg(X509_ALGOR_new());
  Bignum bn(BN_bin2bn(q.nonce.data(), static_cast<int>(q.nonce.size()), nullptr));
  if (!req || !mi || !alg || !bn) return Status::IOError("out of memory");
  Asn1Int nonce(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!nonce || X509_ALGOR_set0(alg.get(), OBJ_nid2obj(NID_sha256), V_ASN1_NULL, nullptr) != 1 ||
      TS_MSG_IMPRINT_set_algo(mi.get(), alg.get()) != 1 ||
      TS_MSG_IMPRINT_set_msg(mi.get(), q.imprint.data(), static_cast<int>(q.imprint.size())) != 1 ||
      TS_REQ_set_version(req.get(), 1) != 1 || TS_REQ_set_msg_imprint(req.get(), mi.get()) != 1 ||
      TS_REQ_set_nonce(req.get(), nonce.get()) != 1 || TS_REQ_set_cert_req(req.get(), 1) != 1) {
    return Status::IOError("building a TimeStampReq: " + DrainErrors());
  }
  unsigned char* der = nullptr;
  int n = i2d_TS_REQ(req.get(), &der);
  if (n <= 0) return Status::IOError("encoding a TimeStampReq: " + DrainErrors());
  q.der.assign(der, der + n);
  OPENSSL_free(der);
  return q;
}

Result<TimestampToken> VerifyTimestampResponse(ByteView response_der, const TimestampQuery& query,
                                               std::string_view ca_pem) {
  if (response_der.size() > kMaxTimestampBytes) {
    return Status::InvalidArgument("the TSA's answer is over " +
                                   std::to_string(kMaxTimestampBytes) + " bytes");
  }
  const unsigned char* p = response_der.data();
  TsResp resp(d2i_TS_RESP(nullptr, &p, static_cast<long>(response_der.size())));
  if (!resp || p != response_der.data() + response_der.size()) {
    ERR_clear_error();
    return Status::Corruption("the TSA's answer is not a DER TimeStampResp");
  }
  TS_STATUS_INFO* si = TS_RESP_get_status_info(resp.get());
  long status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
  if (status != TS_STATUS_GRANTED && status != TS_STATUS_GRANTED_WITH_MODS) {
    std::string text;
    const STACK_OF(ASN1_UTF8STRING)* texts = TS_STATUS_INFO_get0_text(si);
    if (texts != nullptr && sk_ASN1_UTF8STRING_num(texts) > 0) {
      const ASN1_UTF8STRING* t = sk_ASN1_UTF8STRING_value(texts, 0);
      text.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(t)),
                  std::min(ASN1_STRING_length(t), 200));
      for (char& c : text) {
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
      }
    }
    return Status::PermissionDenied("the TSA refused: status " + std::to_string(status) +
                                    (text.empty() ? "" : " (" + text + ")"));
  }
  PKCS7* token = TS_RESP_get_token(resp.get());
  TS_TST_INFO* info = TS_RESP_get_tst_info(resp.get());
  if (token == nullptr || info == nullptr) {
    return Status::Corruption("the TSA granted but sent no token");
  }
  // The imprint first, then the nonce, then the chain: the first wrong thing is named.
  const TS_MSG_IMPRINT* mi = TS_TST_INFO_get_msg_imprint(info);
  const ASN1_OCTET_STRING* msg = TS_MSG_IMPRINT_get_msg(const_cast<TS_MSG_IMPRINT*>(mi));
  if (msg == nullptr || ASN1_STRING_length(msg) != 32 ||
      !ConstantTimeEqual(ByteView(ASN1_STRING_get0_data(msg), 32), query.imprint)) {
    return Status::Corruption("wrong message imprint: the token is not over the checkpoint asked");
  }
  const ASN1_INTEGER* nonce = TS_TST_INFO_get_nonce(info);
  Bignum want(BN_bin2bn(query.nonce.data(), static_cast<int>(query.nonce.size()), nullptr));
  Asn1Int want_int(want ? BN_to_ASN1_INTEGER(want.get(), nullptr) : nullptr);
  if (!want_int) return Status::IOError("out of memory");
  if (nonce == nullptr) return Status::Corruption("wrong nonce: the token has none");
  if (ASN1_INTEGER_cmp(nonce, want_int.get()) != 0) {
    return Status::Corruption("wrong nonce: the token answers another request");
  }
  return CheckToken(token, info, query.imprint, ca_pem, /*at_gen_time=*/false);
}

Result<TimestampToken> VerifyTimestampToken(ByteView token_der, std::string_view checkpoint_body,
                                            std::string_view ca_pem) {
  if (token_der.size() > kMaxTimestampBytes) {
    return Status::InvalidArgument("the token is over " + std::to_string(kMaxTimestampBytes) +
                                   " bytes");
  }
  const unsigned char* p = token_der.data();
  Pkcs7 token(d2i_PKCS7(nullptr, &p, static_cast<long>(token_der.size())));
  if (!token || p != token_der.data() + token_der.size()) {
    ERR_clear_error();
    return Status::Corruption("the token is not a DER TimeStampToken");
  }
  TstInfo info(PKCS7_to_TS_TST_INFO(token.get()));
  if (!info) {
    ERR_clear_error();
    return Status::Corruption("the token holds no TSTInfo");
  }
  return CheckToken(token.get(), info.get(), TimestampImprint(checkpoint_body), ca_pem,
                    /*at_gen_time=*/true);
}

}  // namespace khronika

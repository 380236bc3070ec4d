#include "khronika/log/keyring.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "khronika/store/files.h"

namespace khronika {
namespace {

constexpr std::string_view kMagic = "KHRKEYR1";
constexpr std::string_view kFormat = "khronika-keyring/2";
constexpr size_t kMaxKeyring = 64 * 1024;
constexpr size_t kMaxHint = 4096;

struct Parsed {
  KeyringInfo info;
  Bytes header;  // magic, lock, hint: the associated data of a key-file body
  Bytes body;
};

Bytes Header(LockKind lock, const std::string& hint) {
  Bytes h(kMagic.begin(), kMagic.end());
  h.push_back(static_cast<uint8_t>(lock));
  h.push_back(static_cast<uint8_t>(hint.size() >> 8));
  h.push_back(static_cast<uint8_t>(hint.size() & 0xff));
  h.insert(h.end(), hint.begin(), hint.end());
  return h;
}

Result<Parsed> Parse(const std::filesystem::path& path) {
  KH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxKeyring));
  ByteView b = AsBytes(text);
  auto bad = [&] { return Status::InvalidArgument(path.string() + " is not a Khronika keyring"); };
  if (b.size() < kMagic.size() + 3 || AsChars(b.first(kMagic.size())) != kMagic) return bad();
  uint8_t lock = b[8];
  size_t hint_len = (size_t{b[9]} << 8) | b[10];
  if ((lock != 1 && lock != 2) || b.size() < 11 + hint_len + kAeadOverhead) return bad();
  Parsed p;
  p.info.lock = static_cast<LockKind>(lock);
  p.info.key_file_hint = std::string(AsChars(b.subspan(11, hint_len)));
  p.header.assign(b.begin(), b.begin() + static_cast<long>(11 + hint_len));
  p.body.assign(b.begin() + static_cast<long>(11 + hint_len), b.end());
  return p;
}

Result<NodeSecrets> Decode(Bytes plain, const std::filesystem::path& path) {
  nlohmann::json j = nlohmann::json::parse(AsChars(plain), nullptr, false);
  OPENSSL_cleanse(plain.data(), plain.size());
  auto bad = [&] { return Status::Corruption(path.string() + ": the keyring's content is malformed"); };
  if (!j.is_object() || j.value("format", "") != kFormat || !j["data_key"].is_string() ||
      !j["node_key"].is_string() || !j["cosigner_key"].is_string() ||
      !j["archive_key"].is_string()) {
    return bad();
  }
  auto data_key = FromHex(j["data_key"].get<std::string>());
  auto node_key = SigningKey::FromPem(j["node_key"].get<std::string>());
  auto cosigner_key = SigningKey::FromPem(j["cosigner_key"].get<std::string>());
  auto archive_key = FromHex(j["archive_key"].get<std::string>());
  for (const char* field : {"data_key", "archive_key"}) {
    std::string& hex = j[field].get_ref<std::string&>();
    OPENSSL_cleanse(hex.data(), hex.size());
  }
  auto cleanse = [&] {
    if (data_key.ok()) OPENSSL_cleanse(data_key->data(), data_key->size());
    if (archive_key.ok()) OPENSSL_cleanse(archive_key->data(), archive_key->size());
  };
  if (!data_key.ok() || data_key->size() != 32 || !archive_key.ok() || archive_key->size() != 32 ||
      !node_key.ok() || !cosigner_key.ok()) {
    cleanse();
    return bad();
  }
  NodeSecrets s{{}, std::move(node_key).value(), std::move(cosigner_key).value(), {}};
  std::copy(data_key->begin(), data_key->end(), s.data_key.begin());
  std::copy(archive_key->begin(), archive_key->end(), s.archive_key.begin());
  cleanse();
  return s;
}

}  // namespace

Result<KeyringInfo> ReadKeyringInfo(const std::filesystem::path& path) {
  KH_ASSIGN_OR_RETURN(Parsed p, Parse(path));
  return p.info;
}

Result<SymmetricKey> KeyringKey(const std::filesystem::path& path, const Unlock& unlock) {
  KH_ASSIGN_OR_RETURN(Parsed p, Parse(path));
  if (p.info.lock == LockKind::kPassphrase) {
    if (unlock.passphrase.empty()) {
      return Status::InvalidArgument(path.string() +
                                     " is locked with a passphrase, not a key file");
    }
    return DeriveSealedSecretKey(p.body, unlock.passphrase);
  }
  if (unlock.key_file.empty()) {
    return Status::InvalidArgument(path.string() + " is locked with a key file, not a passphrase");
  }
  return ReadKeyFile(unlock.key_file);
}

Result<NodeSecrets> OpenKeyring(const std::filesystem::path& path, const Unlock& unlock) {
  KH_ASSIGN_OR_RETURN(Parsed p, Parse(path));
  if (unlock.keyring_key) {
    auto plain = p.info.lock == LockKind::kPassphrase
                     ? OpenWithSealedSecretKey(p.body, *unlock.keyring_key)
                     : AeadOpen(*unlock.keyring_key, p.body, p.header);
    if (!plain.ok()) {
      if (plain.status().code() == Code::kInvalidArgument) {
        return plain.status().Annotate(path.string());
      }
      return Status::PermissionDenied("the key given does not open " + path.string());
    }
    return Decode(std::move(plain).value(), path);
  }
  if (p.info.lock == LockKind::kPassphrase) {
    if (unlock.passphrase.empty()) {
      return Status::InvalidArgument(path.string() + " is locked with a passphrase, not a key file");
    }
    auto key = DeriveSealedSecretKey(p.body, unlock.passphrase);
    if (!key.ok()) return key.status().Annotate(path.string());
    auto plain = OpenWithSealedSecretKey(p.body, *key);
    OPENSSL_cleanse(key->data(), key->size());
    if (!plain.ok()) {
      if (plain.status().code() == Code::kPermissionDenied) {
        return Status::PermissionDenied("wrong passphrase for " + path.string());
      }
      return plain.status().Annotate(path.string());
    }
    return Decode(std::move(plain).value(), path);
  }
  if (unlock.key_file.empty()) {
    return Status::InvalidArgument(path.string() + " is locked with a key file" +
                                   (p.info.key_file_hint.empty()
                                        ? std::string()
                                        : " (last kept at " + p.info.key_file_hint.string() + ")"));
  }
  KH_ASSIGN_OR_RETURN(SymmetricKey key, ReadKeyFile(unlock.key_file));
  auto plain = AeadOpen(key, p.body, p.header);
  OPENSSL_cleanse(key.data(), key.size());
  if (!plain.ok()) {
    return Status::PermissionDenied("the key file " + unlock.key_file.string() + " does not open " +
                                    path.string());
  }
  return Decode(std::move(plain).value(), path);
}

Status WriteKeyring(const std::filesystem::path& path, const NodeSecrets& secrets,
                    const Unlock& unlock, bool replace, const ScryptParams& params) {
  if (unlock.passphrase.empty() == unlock.key_file.empty()) {
    return Status::InvalidArgument("seal the keyring with a passphrase or a key file, exactly one");
  }
  std::string plain = nlohmann::json{{"format", kFormat},
                                     {"data_key", ToHex(secrets.data_key)},
                                     {"node_key", secrets.node_key.ToPem()},
                                     {"cosigner_key", secrets.cosigner_key.ToPem()},
                                     {"archive_key", ToHex(secrets.archive_key)}}
                          .dump();
  Bytes out;
  if (!unlock.passphrase.empty()) {
    out = Header(LockKind::kPassphrase, "");
    auto sealed = SealWithPassphrase(AsBytes(plain), unlock.passphrase, params);
    OPENSSL_cleanse(plain.data(), plain.size());
    if (!sealed.ok()) return sealed.status();
    out.insert(out.end(), sealed->begin(), sealed->end());
  } else {
    std::error_code ec;
    std::filesystem::path hint = std::filesystem::absolute(unlock.key_file, ec);
    if (ec || hint.string().size() > kMaxHint) hint = unlock.key_file;
    if (hint.string().size() > kMaxHint) return Status::InvalidArgument("the key file's path is too long");
    auto key = ReadKeyFile(unlock.key_file);
    if (!key.ok()) {
      OPENSSL_cleanse(plain.data(), plain.size());
      return key.status();
    }
    out = Header(LockKind::kKeyFile, hint.string());
    Bytes body = AeadSeal(*key, AsBytes(plain), out);
    OPENSSL_cleanse(key->data(), key->size());
    OPENSSL_cleanse(plain.data(), plain.size());
    out.insert(out.end(), body.begin(), body.end());
  }
  if (!replace) return WriteNewFile(path, AsChars(out), 0600);
  std::filesystem::path next = path;
  next += ".new";
  std::error_code ec;
  std::filesystem::remove(next, ec);  // left by an interrupted change
  KH_RETURN_IF_ERROR(WriteNewFile(next, AsChars(out), 0600));
  if (::rename(next.c_str(), path.c_str()) != 0) return ErrnoStatus("replace " + path.string());
  UniqueFd dir(::open(path.parent_path().empty() ? "." : path.parent_path().c_str(),
                      O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) return ErrnoStatus("fsync " + path.parent_path().string());
  return Status::Ok();
}

Status CreateKeyFile(const std::filesystem::path& path) {
  SymmetricKey key = RandomSymmetricKey();
  std::string text = ToHex(key) + "\n";
  OPENSSL_cleanse(key.data(), key.size());
  Status st = WriteNewFile(path, text, 0600);
  OPENSSL_cleanse(text.data(), text.size());
  return st;
}

Result<SymmetricKey> ReadKeyFile(const std::filesystem::path& path) {
  KH_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, 256));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto bytes = FromHex(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!bytes.ok() || bytes->size() != 32) {
    return Status::InvalidArgument(path.string() +
                                   " is not a Khronika key file (64 hex characters)");
  }
  SymmetricKey key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  OPENSSL_cleanse(bytes->data(), bytes->size());
  return key;
}

}  // namespace khronika

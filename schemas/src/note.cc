#include "khronika/schemas/note.h"

#include <charconv>
#include <cstdint>
#include <cstdio>

namespace khronika {
namespace {

constexpr std::string_view kEmDash = "\xe2\x80\x94";

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

bool HasBadBytes(std::string_view s) {
  for (char ch : s) {
    uint8_t c = static_cast<uint8_t>(ch);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::string FormatCheckpointBody(const Checkpoint& c) {
  std::string out = c.origin + "\n" + std::to_string(c.size) + "\n" + Base64Encode(c.root) + "\n";
  for (const std::string& ext : c.extensions) out += ext + "\n";
  return out;
}

Result<Checkpoint> ParseCheckpointBody(std::string_view body) {
  if (body.size() > kMaxNoteBytes) return Status::InvalidArgument("checkpoint too large");
  if (body.empty() || body.back() != '\n') {
    return Status::InvalidArgument("checkpoint must end with a newline");
  }
  if (HasBadBytes(body)) return Status::InvalidArgument("checkpoint contains control bytes");
  auto lines = SplitLines(body);
  if (lines.size() < 3) return Status::InvalidArgument("checkpoint has fewer than three lines");
  Checkpoint c;
  c.origin = std::string(lines[0]);
  if (c.origin.empty()) return Status::InvalidArgument("checkpoint origin is empty");
  std::string_view size = lines[1];
  if (size.empty() || size.size() > 20 || (size.size() > 1 && size[0] == '0')) {
    return Status::InvalidArgument("checkpoint size is not a canonical decimal number");
  }
  auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), c.size);
  if (ec != std::errc() || ptr != size.data() + size.size()) {
    return Status::InvalidArgument("checkpoint size is not a decimal number");
  }
  KH_ASSIGN_OR_RETURN(Bytes root, Base64Decode(lines[2]));
  if (root.size() != 32) return Status::InvalidArgument("checkpoint root is not 32 bytes");
  std::copy(root.begin(), root.end(), c.root.begin());
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return Status::InvalidArgument("checkpoint has an empty extension line");
    c.extensions.emplace_back(lines[i]);
  }
  return c;
}

namespace {
uint32_t KeyIdFor(std::string_view name, uint8_t alg, const PublicKey& key) {
  Bytes buf(name.begin(), name.end());
  buf.push_back('\n');
  buf.push_back(alg);
  buf.insert(buf.end(), key.begin(), key.end());
  Hash h = Sha256(buf);
  return uint32_t{h[0]} << 24 | uint32_t{h[1]} << 16 | uint32_t{h[2]} << 8 | h[3];
}

std::string FormatVkey(std::string_view name, uint8_t alg, uint32_t key_id, const PublicKey& key) {
  char id[9];
  std::snprintf(id, sizeof id, "%08x", key_id);
  Bytes raw{alg};
  raw.insert(raw.end(), key.begin(), key.end());
  return std::string(name) + "+" + id + "+" + Base64Encode(raw);
}

Result<NoteVerifier> ParseVkey(std::string_view vkey, uint8_t alg) {
  size_t p1 = vkey.find('+');
  if (p1 == std::string_view::npos) return Status::InvalidArgument("verifier key has no '+'");
  size_t p2 = vkey.find('+', p1 + 1);
  if (p2 == std::string_view::npos || p2 - p1 != 9) {
    return Status::InvalidArgument("verifier key must be name+keyid+key");
  }
  NoteVerifier v;
  v.name = std::string(vkey.substr(0, p1));
  KH_RETURN_IF_ERROR(ValidateKeyName(v.name));
  KH_ASSIGN_OR_RETURN(Bytes id, FromHex(vkey.substr(p1 + 1, 8)));
  v.key_id = uint32_t{id[0]} << 24 | uint32_t{id[1]} << 16 | uint32_t{id[2]} << 8 | id[3];
  KH_ASSIGN_OR_RETURN(Bytes raw, Base64Decode(vkey.substr(p2 + 1)));
  if (raw.size() != 33 || raw[0] != alg) {
    return Status::InvalidArgument(alg == kNoteAlgEd25519
                                       ? "verifier key is not an Ed25519 (type 0x01) key"
                                       : "verifier key is not a cosignature/v1 (type 0x04) key");
  }
  std::copy(raw.begin() + 1, raw.end(), v.key.begin());
  if (KeyIdFor(v.name, alg, v.key) != v.key_id) {
    return Status::InvalidArgument("verifier key id does not match its name and key");
  }
  return v;
}
}  // namespace

uint32_t NoteKeyId(std::string_view name, const PublicKey& key) {
  return KeyIdFor(name, kNoteAlgEd25519, key);
}

Status ValidateKeyName(std::string_view name) {
  if (name.empty() || name.size() > 256) {
    return Status::InvalidArgument("key name must be 1 to 256 bytes");
  }
  for (char ch : name) {
    uint8_t c = static_cast<uint8_t>(ch);
    if (c <= 0x20 || c == 0x7f || c == '+') {
      return Status::InvalidArgument("key name contains a space, '+' or a control byte");
    }
  }
  return Status::Ok();
}

std::string FormatVerifierKey(std::string_view name, const PublicKey& key) {
  return FormatVkey(name, kNoteAlgEd25519, NoteKeyId(name, key), key);
}

Result<NoteVerifier> ParseVerifierKey(std::string_view vkey) {
  return ParseVkey(vkey, kNoteAlgEd25519);
}

Result<SignedNote> ParseSignedNote(std::string_view note) {
  if (note.size() > kMaxNoteBytes) return Status::InvalidArgument("note too large");
  if (HasBadBytes(note)) return Status::InvalidArgument("note contains control bytes");
  size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) {
    return Status::InvalidArgument("note has no blank line before its signatures");
  }
  SignedNote out;
  out.text = std::string(note.substr(0, split + 1));
  std::string_view sigs = note.substr(split + 2);
  if (sigs.empty() || sigs.back() != '\n') {
    return Status::InvalidArgument("note signatures must end with a newline");
  }
  for (std::string_view line : SplitLines(sigs)) {
    if (line.substr(0, kEmDash.size() + 1) != std::string(kEmDash) + " ") {
      return Status::InvalidArgument("note signature line does not start with an em dash");
    }
    line.remove_prefix(kEmDash.size() + 1);
    size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return Status::InvalidArgument("note signature line has no signature");
    }
    NoteSignatureLine s;
    s.name = std::string(line.substr(0, space));
    KH_RETURN_IF_ERROR(ValidateKeyName(s.name));
    KH_ASSIGN_OR_RETURN(Bytes raw, Base64Decode(line.substr(space + 1)));
    if (raw.size() < 5) return Status::InvalidArgument("note signature too short");
    s.key_id = uint32_t{raw[0]} << 24 | uint32_t{raw[1]} << 16 | uint32_t{raw[2]} << 8 | raw[3];
    s.signature.assign(raw.begin() + 4, raw.end());
    out.signatures.push_back(std::move(s));
    if (out.signatures.size() > kMaxNoteSignatures) {
      return Status::InvalidArgument("note has more than 100 signatures");
    }
  }
  return out;
}

std::string FormatSignedNote(const SignedNote& note) {
  std::string out = note.text + "\n";
  for (const NoteSignatureLine& s : note.signatures) {
    Bytes raw{static_cast<uint8_t>(s.key_id >> 24), static_cast<uint8_t>(s.key_id >> 16),
              static_cast<uint8_t>(s.key_id >> 8), static_cast<uint8_t>(s.key_id)};
    raw.insert(raw.end(), s.signature.begin(), s.signature.end());
    out += std::string(kEmDash) + " " + s.name + " " + Base64Encode(raw) + "\n";
  }
  return out;
}

NoteSignatureLine SignNoteText(std::string_view text, std::string_view name,
                               const SigningKey& key) {
  Signature sig = key.Sign(AsBytes(text));
  return {std::string(name), NoteKeyId(name, key.public_key()), Bytes(sig.begin(), sig.end())};
}

bool NoteSignedBy(const SignedNote& note, const NoteVerifier& verifier) {
  for (const NoteSignatureLine& s : note.signatures) {
    if (s.name != verifier.name || s.key_id != verifier.key_id || s.signature.size() != 64) {
      continue;
    }
    Signature sig;
    std::copy(s.signature.begin(), s.signature.end(), sig.begin());
    if (VerifySignature(verifier.key, AsBytes(note.text), sig)) return true;
  }
  return false;
}

uint32_t CosignatureKeyId(std::string_view name, const PublicKey& key) {
  return KeyIdFor(name, kNoteAlgCosignatureV1, key);
}

std::string FormatCosignerVerifierKey(std::string_view name, const PublicKey& key) {
  return FormatVkey(name, kNoteAlgCosignatureV1, CosignatureKeyId(name, key), key);
}

Result<NoteVerifier> ParseCosignerVerifierKey(std::string_view vkey) {
  return ParseVkey(vkey, kNoteAlgCosignatureV1);
}

namespace {
std::string CosignedMessage(std::string_view body, uint64_t timestamp) {
  return "cosignature/v1\ntime " + std::to_string(timestamp) + "\n" + std::string(body);
}
}  // namespace

NoteSignatureLine CosignCheckpoint(std::string_view checkpoint_body, std::string_view name,
                                   const SigningKey& key, uint64_t timestamp) {
  Signature sig = key.Sign(AsBytes(CosignedMessage(checkpoint_body, timestamp)));
  NoteSignatureLine line{std::string(name), CosignatureKeyId(name, key.public_key()), {}};
  for (int shift = 56; shift >= 0; shift -= 8) line.signature.push_back(static_cast<uint8_t>(timestamp >> shift));
  line.signature.insert(line.signature.end(), sig.begin(), sig.end());
  return line;
}

std::optional<uint64_t> VerifyCosignature(std::string_view checkpoint_body,
                                          const NoteSignatureLine& line,
                                          const NoteVerifier& cosigner) {
  if (line.name != cosigner.name || line.key_id != cosigner.key_id || line.signature.size() != 72) {
    return std::nullopt;
  }
  uint64_t timestamp = ReadBigEndian64(line.signature.data());
  if (timestamp > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  Signature sig;
  std::copy(line.signature.begin() + 8, line.signature.end(), sig.begin());
  if (!VerifySignature(cosigner.key, AsBytes(CosignedMessage(checkpoint_body, timestamp)), sig)) {
    return std::nullopt;
  }
  return timestamp;
}

}  // namespace khronika

#include "khronika/schemas/note.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khronika {
namespace {

// =============================================================================================
// An independent, minimal reader of C2SP signed notes (https://c2sp.org/signed-note), written
// against OpenSSL directly so that it shares no code with note.cc or bytes.cc.
// =============================================================================================

constexpr std::string_view kEmDashSpace = "\xe2\x80\x94 ";  // U+2014 EM DASH, then a space

std::string IndepBase64Encode(const std::vector<uint8_t>& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), in.data(),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::vector<uint8_t>> IndepBase64Decode(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::vector<uint8_t> out(s.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes.
  size_t pad = (s.back() == '=') + (s[s.size() - 2] == '=');
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::vector<uint8_t> IndepSha256(std::string_view data) {
  std::vector<uint8_t> out(32);
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr), 1);
  return out;
}

// Key id: the first four bytes of SHA-256(name || 0x0A || 0x01 || 32-byte public key).
uint32_t IndepKeyId(std::string_view name, const uint8_t* pub32) {
  std::string buf(name);
  buf.push_back('\n');
  buf.push_back('\x01');
  buf.append(reinterpret_cast<const char*>(pub32), 32);
  std::vector<uint8_t> h = IndepSha256(buf);
  return uint32_t{h[0]} << 24 | uint32_t{h[1]} << 16 | uint32_t{h[2]} << 8 | h[3];
}

bool IndepEd25519Verify(const uint8_t* pub32, std::string_view msg, const uint8_t* sig,
                        size_t sig_len) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub32, 32), EVP_PKEY_free);
  if (!pkey) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), sig, sig_len,
                          reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
}

struct IndepNote {
  std::string text;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> sigs;  // name, key id || signature
};

std::optional<IndepNote> IndepParse(std::string_view note) {
  size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return std::nullopt;
  IndepNote out;
  out.text = std::string(note.substr(0, split + 1));
  std::string_view rest = note.substr(split + 2);
  if (rest.empty() || rest.back() != '\n') return std::nullopt;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    if (line.substr(0, kEmDashSpace.size()) != kEmDashSpace) return std::nullopt;
    line.remove_prefix(kEmDashSpace.size());
    size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0) return std::nullopt;
    auto raw = IndepBase64Decode(line.substr(space + 1));
    if (!raw || raw->size() < 5) return std::nullopt;
    out.sigs.emplace_back(std::string(line.substr(0, space)), std::move(*raw));
  }
  return out;
}

// True if `note` carries a valid Ed25519 signature of its text by (name, pub32).
bool IndepVerify(std::string_view note, std::string_view name, const uint8_t* pub32) {
  auto parsed = IndepParse(note);
  if (!parsed) return false;
  uint32_t id = IndepKeyId(name, pub32);
  for (const auto& [sig_name, raw] : parsed->sigs) {
    if (sig_name != name || raw.size() != 4 + 64) continue;
    uint32_t sig_id = uint32_t{raw[0]} << 24 | uint32_t{raw[1]} << 16 | uint32_t{raw[2]} << 8 |
                      raw[3];
    if (sig_id != id) continue;
    if (IndepEd25519Verify(pub32, parsed->text, raw.data() + 4, 64)) return true;
  }
  return false;
}

SigningKey KeyFromSeedByte(uint8_t start) {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(start + i);
  auto key = SigningKey::FromSeed(seed);
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

std::string Hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// =============================================================================================
// External reference: the example in golang.org/x/mod/sumdb/note (note.go package comment),
// copied verbatim. Ed25519 is deterministic, so our signer must reproduce it byte for byte.
// =============================================================================================

constexpr std::string_view kGoVerifierKey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr std::string_view kGoSignerKeyMaterial = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr std::string_view kGoText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr std::string_view kGoNote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xe2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

// The example of the C2SP signed-note specification itself (c2sp.org/signed-note, "Example"),
// copied verbatim: its verifier key verifies its note, and nothing else.
TEST(NoteSpecVectorTest, TheSpecsExampleKeyVerifiesTheSpecsExampleNote) {
  constexpr std::string_view kSpecKey =
      "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
  constexpr std::string_view kSpecNote =
      "This is an example message.\n"
      "\n"
      "\xe2\x80\x94 example.com/foo "
      "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
  auto verifier = ParseVerifierKey(kSpecKey);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  EXPECT_EQ(verifier->name, "example.com/foo");
  EXPECT_EQ(verifier->key_id, 0x530d903au);
  EXPECT_EQ(FormatVerifierKey(verifier->name, verifier->key), kSpecKey);
  auto note = ParseSignedNote(kSpecNote);
  ASSERT_TRUE(note.ok()) << note.status().ToString();
  EXPECT_EQ(note->text, "This is an example message.\n");
  ASSERT_EQ(note->signatures.size(), 1u);
  EXPECT_TRUE(NoteSignedBy(*note, *verifier));
  EXPECT_EQ(FormatSignedNote(*note), kSpecNote);  // reproduced byte for byte
  // The independent reader agrees, and a changed message verifies under neither.
  EXPECT_TRUE(IndepVerify(kSpecNote, "example.com/foo", verifier->key.data()));
  std::string changed(kSpecNote);
  changed.replace(changed.find("example message"), 7, "Example");
  auto other = ParseSignedNote(changed);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(NoteSignedBy(*other, *verifier));
  EXPECT_FALSE(IndepVerify(changed, "example.com/foo", verifier->key.data()));
}

TEST(NoteGoVectorTest, IndependentReaderAcceptsGoNote) {
  // Validates the independent reader itself against a third party's note.
  auto raw_key = IndepBase64Decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ASSERT_TRUE(raw_key);
  ASSERT_EQ(raw_key->size(), 33u);
  ASSERT_EQ((*raw_key)[0], 0x01);
  EXPECT_EQ(IndepKeyId("PeterNeumann", raw_key->data() + 1), 0xc74f20a3u);
  EXPECT_TRUE(IndepVerify(kGoNote, "PeterNeumann", raw_key->data() + 1));
  std::string tampered(kGoNote);
  tampered.replace(tampered.find("cryptography"), 12, "cryptographY");
  EXPECT_FALSE(IndepVerify(tampered, "PeterNeumann", raw_key->data() + 1));
}

TEST(NoteGoVectorTest, OurCodeReadsAndReproducesGoNote) {
  auto verifier = ParseVerifierKey(kGoVerifierKey);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  EXPECT_EQ(verifier->name, "PeterNeumann");
  EXPECT_EQ(verifier->key_id, 0xc74f20a3u);
  EXPECT_EQ(FormatVerifierKey(verifier->name, verifier->key), kGoVerifierKey);
  EXPECT_EQ(NoteKeyId("PeterNeumann", verifier->key), 0xc74f20a3u);

  auto note = ParseSignedNote(kGoNote);
  ASSERT_TRUE(note.ok()) << note.status().ToString();
  EXPECT_EQ(note->text, kGoText);
  ASSERT_EQ(note->signatures.size(), 1u);
  EXPECT_EQ(note->signatures[0].name, "PeterNeumann");
  EXPECT_EQ(note->signatures[0].key_id, 0xc74f20a3u);
  EXPECT_EQ(note->signatures[0].signature.size(), 64u);
  EXPECT_TRUE(NoteSignedBy(*note, *verifier));
  EXPECT_EQ(FormatSignedNote(*note), kGoNote);

  // The signer key is 0x01 || Ed25519 seed.
  auto skey = IndepBase64Decode(kGoSignerKeyMaterial);
  ASSERT_TRUE(skey);
  ASSERT_EQ(skey->size(), 33u);
  ASSERT_EQ((*skey)[0], 0x01);
  auto key = SigningKey::FromSeed(ByteView(skey->data() + 1, 32));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->public_key(), verifier->key);
  SignedNote ours{std::string(kGoText), {SignNoteText(kGoText, "PeterNeumann", *key)}};
  EXPECT_EQ(FormatSignedNote(ours), kGoNote);

  SignedNote modified = *note;
  modified.text[0] = 'i';
  EXPECT_FALSE(NoteSignedBy(modified, *verifier));
}

// =============================================================================================
// Checkpoints signed by us verify under the independent reader.
// =============================================================================================

Checkpoint SampleCheckpoint(const PublicKey& pub) {
  Checkpoint c;
  c.origin = "khronika/" + ToHex(Sha256(pub));
  c.size = 1234567;
  c.root = Sha256(std::string_view("some root"));
  c.extensions = {"Timestamp: 1700000000", "x"};
  return c;
}

TEST(CheckpointNoteTest, FormatCheckpointBodyIsTheC2spLayout) {
  SigningKey key = KeyFromSeedByte(0);
  Checkpoint c = SampleCheckpoint(key.public_key());
  std::vector<uint8_t> root(c.root.begin(), c.root.end());
  std::string want = c.origin + "\n1234567\n" + IndepBase64Encode(root) +
                     "\nTimestamp: 1700000000\nx\n";
  EXPECT_EQ(FormatCheckpointBody(c), want);
  c.extensions.clear();
  c.size = 0;
  EXPECT_EQ(FormatCheckpointBody(c), c.origin + "\n0\n" + IndepBase64Encode(root) + "\n");
}

TEST(CheckpointNoteTest, SignedCheckpointVerifiesUnderIndependentReader) {
  SigningKey key = KeyFromSeedByte(0);
  SigningKey other = KeyFromSeedByte(100);
  Checkpoint c = SampleCheckpoint(key.public_key());
  std::string body = FormatCheckpointBody(c);
  std::string name = c.origin;
  NoteSignatureLine line = SignNoteText(body, name, key);
  EXPECT_EQ(line.name, name);
  EXPECT_EQ(line.key_id, IndepKeyId(name, key.public_key().data()));
  EXPECT_EQ(line.signature.size(), 64u);
  std::string note = FormatSignedNote({body, {line}});

  EXPECT_TRUE(IndepVerify(note, name, key.public_key().data()));
  EXPECT_FALSE(IndepVerify(note, name, other.public_key().data()));
  EXPECT_FALSE(IndepVerify(note, "khronika/other", key.public_key().data()));

  // The independent reader sees exactly our body as the signed text.
  auto parsed = IndepParse(note);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->text, body);
  ASSERT_EQ(parsed->sigs.size(), 1u);

  // Any change to the body breaks it.
  for (size_t i = 0; i + 1 < body.size(); i += 5) {
    std::string tampered = note;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(IndepVerify(tampered, name, key.public_key().data())) << "byte " << i;
  }

  // A cosigned note: both signatures verify independently, in either order.
  NoteSignatureLine cosig = SignNoteText(body, "witness.example", other);
  std::string both = FormatSignedNote({body, {line, cosig}});
  EXPECT_TRUE(IndepVerify(both, name, key.public_key().data()));
  EXPECT_TRUE(IndepVerify(both, "witness.example", other.public_key().data()));
  std::string reversed = FormatSignedNote({body, {cosig, line}});
  EXPECT_TRUE(IndepVerify(reversed, name, key.public_key().data()));

  // And our own parser agrees.
  auto ours = ParseSignedNote(note);
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  auto verifier = ParseVerifierKey(FormatVerifierKey(name, key.public_key()));
  ASSERT_TRUE(verifier.ok());
  EXPECT_TRUE(NoteSignedBy(*ours, *verifier));
  auto cp = ParseCheckpointBody(ours->text);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->origin, c.origin);
  EXPECT_EQ(cp->size, c.size);
  EXPECT_EQ(cp->root, c.root);
  EXPECT_EQ(cp->extensions, c.extensions);
}

// =============================================================================================
// Signed-note parsing and formatting.
// =============================================================================================

TEST(SignedNoteTest, FormatIsTextBlankLineAndSignatureLines) {
  SignedNote note;
  note.text = "hello\nworld\n";
  note.signatures.push_back({"alice", 0x01020304, Bytes(64, 0xaa)});
  note.signatures.push_back({"bob.example/log", 0xfffffffe, Bytes{0x01}});
  std::vector<uint8_t> a = {1, 2, 3, 4};
  a.insert(a.end(), 64, 0xaa);
  std::vector<uint8_t> b = {0xff, 0xff, 0xff, 0xfe, 0x01};
  std::string want = "hello\nworld\n\n" + std::string(kEmDashSpace) + "alice " +
                     IndepBase64Encode(a) + "\n" + std::string(kEmDashSpace) +
                     "bob.example/log " + IndepBase64Encode(b) + "\n";
  EXPECT_EQ(FormatSignedNote(note), want);
}

TEST(SignedNoteTest, ParseFormatRoundTrip) {
  SigningKey k1 = KeyFromSeedByte(1), k2 = KeyFromSeedByte(2);
  std::string text = "line one\n\nline three after a blank line\n";
  SignedNote note{text, {SignNoteText(text, "one", k1), SignNoteText(text, "two", k2)}};
  // A signature by a key nobody knows, with an odd length, is kept as is.
  note.signatures.push_back({"stranger", 0xdeadbeef, Bytes{9, 8, 7}});
  std::string formatted = FormatSignedNote(note);
  auto parsed = ParseSignedNote(formatted);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->text, text);
  ASSERT_EQ(parsed->signatures.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(parsed->signatures[i].name, note.signatures[i].name);
    EXPECT_EQ(parsed->signatures[i].key_id, note.signatures[i].key_id);
    EXPECT_EQ(parsed->signatures[i].signature, note.signatures[i].signature);
  }
  EXPECT_EQ(FormatSignedNote(*parsed), formatted);
  auto v1 = ParseVerifierKey(FormatVerifierKey("one", k1.public_key()));
  auto v2 = ParseVerifierKey(FormatVerifierKey("two", k2.public_key()));
  ASSERT_TRUE(v1.ok() && v2.ok());
  EXPECT_TRUE(NoteSignedBy(*parsed, *v1));
  EXPECT_TRUE(NoteSignedBy(*parsed, *v2));
}

std::string SigLine(std::string_view name, const std::vector<uint8_t>& raw) {
  return std::string(kEmDashSpace) + std::string(name) + " " + IndepBase64Encode(raw) + "\n";
}

TEST(SignedNoteTest, RejectsMalformedNotes) {
  std::vector<uint8_t> raw(68, 0x11);
  const std::string good = "text\n\n" + SigLine("name", raw);
  ASSERT_TRUE(ParseSignedNote(good).ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"no blank line", "text\n" + SigLine("name", raw)},
      {"no signatures", "text\n\n"},
      {"missing final newline", good.substr(0, good.size() - 1)},
      {"hyphen instead of em dash", "text\n\n- name " + IndepBase64Encode(raw) + "\n"},
      {"en dash", "text\n\n\xe2\x80\x93 name " + IndepBase64Encode(raw) + "\n"},
      {"em dash without space", "text\n\n\xe2\x80\x94name " + IndepBase64Encode(raw) + "\n"},
      {"no signature after name", "text\n\n\xe2\x80\x94 name\n"},
      {"bad base64", "text\n\n\xe2\x80\x94 name !!!!\n"},
      {"base64 without padding", "text\n\n\xe2\x80\x94 name AAAAAAA\n"},
      {"signature of 4 bytes", "text\n\n" + SigLine("name", {1, 2, 3, 4})},
      {"name with plus", "text\n\n" + SigLine("na+me", raw)},
      {"empty name", "text\n\n\xe2\x80\x94  " + IndepBase64Encode(raw) + "\n"},
      {"tab in text", "te\txt\n\n" + SigLine("name", raw)},
      {"carriage return", "text\r\n\n" + SigLine("name", raw)},
      {"NUL byte", std::string("te\0xt\n\n", 8) + SigLine("name", raw)},
      {"DEL byte", "te\x7fxt\n\n" + SigLine("name", raw)},
      {"trailing garbage line", good + "garbage\n"},
  };
  for (const auto& [what, note] : bad) {
    auto r = ParseSignedNote(note);
    EXPECT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << what;
  }
}

TEST(SignedNoteTest, SizeAndSignatureCountLimits) {
  std::vector<uint8_t> raw(68, 0x22);
  std::string sigs;
  for (size_t i = 0; i < kMaxNoteSignatures; ++i) sigs += SigLine("k" + std::to_string(i), raw);
  auto hundred = ParseSignedNote("text\n\n" + sigs);
  ASSERT_TRUE(hundred.ok()) << hundred.status().ToString();
  EXPECT_EQ(hundred->signatures.size(), kMaxNoteSignatures);
  auto too_many = ParseSignedNote("text\n\n" + sigs + SigLine("one-more", raw));
  EXPECT_EQ(too_many.status().code(), Code::kInvalidArgument);

  std::string sig = SigLine("name", raw);
  std::string text(kMaxNoteBytes - sig.size() - 1, 'a');
  text.back() = '\n';
  std::string at_limit = text + "\n" + sig;
  ASSERT_EQ(at_limit.size(), kMaxNoteBytes);
  EXPECT_TRUE(ParseSignedNote(at_limit).ok());
  std::string over = "a" + at_limit;  // kMaxNoteBytes + 1, otherwise well-formed
  EXPECT_EQ(ParseSignedNote(over).status().code(), Code::kInvalidArgument);
}

TEST(SignedNoteTest, NoteSignedByRejectsTamperingAndWrongKeys) {
  SigningKey key = KeyFromSeedByte(7), other = KeyFromSeedByte(8);
  std::string text = "origin\n5\n" + Base64Encode(Sha256(std::string_view("r"))) + "\n";
  SignedNote note{text, {SignNoteText(text, "log", key)}};
  auto verifier = ParseVerifierKey(FormatVerifierKey("log", key.public_key()));
  ASSERT_TRUE(verifier.ok());
  ASSERT_TRUE(NoteSignedBy(note, *verifier));

  // Modified text: every single byte change is caught.
  for (size_t i = 0; i < text.size(); ++i) {
    SignedNote modified = note;
    modified.text[i] ^= 0x01;
    EXPECT_FALSE(NoteSignedBy(modified, *verifier)) << i;
  }
  SignedNote appended = note;
  appended.text += "extra\n";
  EXPECT_FALSE(NoteSignedBy(appended, *verifier));

  // Wrong key, under the right name and under its own key id.
  auto wrong = ParseVerifierKey(FormatVerifierKey("log", other.public_key()));
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE(NoteSignedBy(note, *wrong));
  // Right key, wrong name (so a different key id).
  auto renamed = ParseVerifierKey(FormatVerifierKey("log2", key.public_key()));
  ASSERT_TRUE(renamed.ok());
  EXPECT_FALSE(NoteSignedBy(note, *renamed));
  // Right key and id but the line names someone else.
  SignedNote misnamed = note;
  misnamed.signatures[0].name = "other";
  EXPECT_FALSE(NoteSignedBy(misnamed, *verifier));
  // A key id that does not match the verifier's.
  SignedNote bad_id = note;
  bad_id.signatures[0].key_id ^= 1;
  EXPECT_FALSE(NoteSignedBy(bad_id, *verifier));
  // Damaged signatures.
  for (size_t bit = 0; bit < 64 * 8; bit += 13) {
    SignedNote damaged = note;
    damaged.signatures[0].signature[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(NoteSignedBy(damaged, *verifier)) << bit;
  }
  SignedNote truncated = note;
  truncated.signatures[0].signature.pop_back();
  EXPECT_FALSE(NoteSignedBy(truncated, *verifier));
  SignedNote none{text, {}};
  EXPECT_FALSE(NoteSignedBy(none, *verifier));
  // A bad signature before a good one does not hide the good one.
  SignedNote mixed = note;
  mixed.signatures.insert(mixed.signatures.begin(), bad_id.signatures[0]);
  mixed.signatures.insert(mixed.signatures.begin(), SignNoteText(text, "log", other));
  EXPECT_TRUE(NoteSignedBy(mixed, *verifier));
}

// =============================================================================================
// Checkpoint bodies.
// =============================================================================================

std::string Root64() { return Base64Encode(Sha256(std::string_view("root"))); }

TEST(CheckpointBodyTest, RoundTrip) {
  Checkpoint c;
  c.origin = "example.com/log";
  c.root = Sha256(std::string_view("root"));
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{10}, uint64_t{1} << 40, UINT64_MAX}) {
    for (const auto& ext : std::vector<std::vector<std::string>>{{}, {"a"}, {"one", "two two"}}) {
      c.size = size;
      c.extensions = ext;
      std::string body = FormatCheckpointBody(c);
      auto back = ParseCheckpointBody(body);
      ASSERT_TRUE(back.ok()) << body << ": " << back.status().ToString();
      EXPECT_EQ(back->origin, c.origin);
      EXPECT_EQ(back->size, size);
      EXPECT_EQ(back->root, c.root);
      EXPECT_EQ(back->extensions, ext);
      EXPECT_EQ(FormatCheckpointBody(*back), body);
    }
  }
  auto max = ParseCheckpointBody("o\n18446744073709551615\n" + Root64() + "\n");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->size, UINT64_MAX);
}

TEST(CheckpointBodyTest, RejectsMalformedBodies) {
  const std::string r = Root64();
  ASSERT_TRUE(ParseCheckpointBody("o\n12\n" + r + "\n").ok());
  std::string root31 = IndepBase64Encode(std::vector<uint8_t>(31, 7));
  std::string root33 = IndepBase64Encode(std::vector<uint8_t>(33, 7));
  std::string root64 = IndepBase64Encode(std::vector<uint8_t>(64, 7));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"leading zero", "o\n012\n" + r + "\n"},
      {"double zero", "o\n00\n" + r + "\n"},
      {"zero padded zero", "o\n0000000000000000000\n" + r + "\n"},
      {"plus sign", "o\n+12\n" + r + "\n"},
      {"minus sign", "o\n-1\n" + r + "\n"},
      {"space before size", "o\n 12\n" + r + "\n"},
      {"space after size", "o\n12 \n" + r + "\n"},
      {"hex size", "o\n0x10\n" + r + "\n"},
      {"size overflow", "o\n18446744073709551616\n" + r + "\n"},
      {"size far too long", "o\n123456789012345678901234\n" + r + "\n"},
      {"empty size", "o\n\n" + r + "\n"},
      {"missing root line", "o\n12\n"},
      {"missing size and root", "o\n"},
      {"empty", ""},
      {"no final newline", "o\n12\n" + r},
      {"empty origin", "\n12\n" + r + "\n"},
      {"bad base64 root", "o\n12\n" + r.substr(0, r.size() - 1) + "!\n"},
      {"unpadded root", "o\n12\n" + r.substr(0, r.size() - 1) + "\n"},
      {"31-byte root", "o\n12\n" + root31 + "\n"},
      {"33-byte root", "o\n12\n" + root33 + "\n"},
      {"64-byte root", "o\n12\n" + root64 + "\n"},
      {"empty root", "o\n12\n\n"},
      {"empty extension line", "o\n12\n" + r + "\n\next\n"},
      {"trailing blank line", "o\n12\n" + r + "\n\n"},
      {"tab", "o\t\n12\n" + r + "\n"},
      {"carriage return", "o\r\n12\n" + r + "\n"},
      {"control byte in extension", "o\n12\n" + r + "\nx\x01y\n"},
      {"DEL", "o\x7f\n12\n" + r + "\n"},
      {"NUL", std::string("o\0\n12\n", 6) + r + "\n"},
  };
  for (const auto& [what, body] : bad) {
    auto c = ParseCheckpointBody(body);
    EXPECT_FALSE(c.ok()) << what;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << what;
  }
}

TEST(CheckpointBodyTest, SizeLimit) {
  std::string head = "o\n12\n" + Root64() + "\n";
  std::string ext(kMaxNoteBytes - head.size() - 1, 'e');
  std::string at_limit = head + ext + "\n";
  ASSERT_EQ(at_limit.size(), kMaxNoteBytes);
  auto ok = ParseCheckpointBody(at_limit);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->extensions.size(), 1u);
  std::string over = head + ext + "e\n";
  auto r = ParseCheckpointBody(over);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(ParseCheckpointBody(head + std::string(1 << 20, 'x') + "\n").ok());
}

// =============================================================================================
// Verifier keys and key names.
// =============================================================================================

TEST(VerifierKeyTest, FormatMatchesIndependentConstruction) {
  SigningKey key = KeyFromSeedByte(3);
  std::vector<uint8_t> typed = {0x01};
  typed.insert(typed.end(), key.public_key().begin(), key.public_key().end());
  std::string want = "log.example+" + Hex8(IndepKeyId("log.example", key.public_key().data())) +
                     "+" + IndepBase64Encode(typed);
  EXPECT_EQ(FormatVerifierKey("log.example", key.public_key()), want);
  EXPECT_EQ(NoteKeyId("log.example", key.public_key()),
            IndepKeyId("log.example", key.public_key().data()));
}

TEST(VerifierKeyTest, RoundTrip) {
  for (uint8_t seed = 0; seed < 40; ++seed) {
    SigningKey key = KeyFromSeedByte(seed);
    std::string name = "khronika/" + std::to_string(seed);
    std::string vkey = FormatVerifierKey(name, key.public_key());
    auto v = ParseVerifierKey(vkey);
    ASSERT_TRUE(v.ok()) << vkey << ": " << v.status().ToString();
    EXPECT_EQ(v->name, name);
    EXPECT_EQ(v->key, key.public_key());
    EXPECT_EQ(v->key_id, NoteKeyId(name, key.public_key()));
    EXPECT_EQ(FormatVerifierKey(v->name, v->key), vkey);
  }
}

TEST(VerifierKeyTest, KeyMaterialContainingPlusParses) {
  // The base64 alphabet includes '+': only the first two '+' separate fields.
  bool found = false;
  for (int seed = 0; seed < 256 && !found; ++seed) {
    SigningKey key = KeyFromSeedByte(static_cast<uint8_t>(seed));
    std::string vkey = FormatVerifierKey("n", key.public_key());
    std::string_view material = std::string_view(vkey).substr(vkey.find('+', 2) + 1);
    if (material.find('+') == std::string_view::npos) continue;
    found = true;
    auto v = ParseVerifierKey(vkey);
    ASSERT_TRUE(v.ok()) << vkey << ": " << v.status().ToString();
    EXPECT_EQ(v->key, key.public_key());
  }
  EXPECT_TRUE(found);
}

TEST(VerifierKeyTest, RejectsMalformedKeys) {
  SigningKey key = KeyFromSeedByte(4);
  const std::string name = "log";
  const std::string good = FormatVerifierKey(name, key.public_key());
  ASSERT_TRUE(ParseVerifierKey(good).ok());
  const std::string id = Hex8(NoteKeyId(name, key.public_key()));
  std::vector<uint8_t> typed = {0x01};
  typed.insert(typed.end(), key.public_key().begin(), key.public_key().end());
  std::string material = IndepBase64Encode(typed);

  std::string wrong_id = id;
  wrong_id[7] = wrong_id[7] == '0' ? '1' : '0';
  std::string upper_id = id;
  for (char& c : upper_id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::vector<uint8_t> alg2 = typed;
  alg2[0] = 0x02;
  std::vector<uint8_t> short_key(typed.begin(), typed.end() - 1);
  std::vector<uint8_t> long_key = typed;
  long_key.push_back(0);
  std::vector<uint8_t> untyped(typed.begin() + 1, typed.end());

  std::vector<std::pair<std::string, std::string>> bad = {
      {"wrong key id", name + "+" + wrong_id + "+" + material},
      {"id of another name", name + "+" + Hex8(NoteKeyId("log2", key.public_key())) + "+" +
                                 material},
      {"name not matching id", "log2+" + id + "+" + material},
      {"short id", name + "+" + id.substr(1) + "+" + material},
      {"long id", name + "+0" + id + "+" + material},
      {"non-hex id", name + "+zzzzzzzz+" + material},
      {"no key", name + "+" + id},
      {"empty key", name + "+" + id + "+"},
      {"no separators", name},
      {"empty name", "+" + id + "+" + material},
      {"name with space", "lo g+" + id + "+" + material},
      {"algorithm 2", name + "+" + id + "+" + IndepBase64Encode(alg2)},
      {"31-byte key", name + "+" + id + "+" + IndepBase64Encode(short_key)},
      {"33-byte key", name + "+" + id + "+" + IndepBase64Encode(long_key)},
      {"missing algorithm byte", name + "+" + id + "+" + IndepBase64Encode(untyped)},
      {"key not base64", name + "+" + id + "+" + material.substr(1)},
      {"trailing newline", good + "\n"},
  };
  if (upper_id != id) bad.push_back({"uppercase id", name + "+" + upper_id + "+" + material});
  for (const auto& [what, vkey] : bad) {
    auto v = ParseVerifierKey(vkey);
    EXPECT_FALSE(v.ok()) << what << ": " << vkey;
    EXPECT_EQ(v.status().code(), Code::kInvalidArgument) << what;
  }
}

TEST(KeyNameTest, Validation) {
  for (std::string_view ok : {"a", "khronika/0123abcd", "example.com/log", "PeterNeumann",
                              "\xc3\xa9t\xc3\xa9", "a-b_c.d~e"}) {
    EXPECT_TRUE(ValidateKeyName(ok).ok()) << ok;
  }
  EXPECT_TRUE(ValidateKeyName(std::string(256, 'n')).ok());
  const std::vector<std::string> bad = {"",      "a b",  "a+b", "+",   "a\nb", "a\tb",
                                        "a\x7f", "\x01", " a",  "a ",  std::string(257, 'n'),
                                        std::string("a\0b", 3)};
  for (const std::string& name : bad) {
    Status s = ValidateKeyName(name);
    EXPECT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace khronika

namespace khronika {
namespace {

TEST(CosignatureTest, SignsTheC2spMessageAndVerifies) {
  SigningKey witness = std::move(SigningKey::FromSeed(Bytes(32, 7)).value());
  const std::string name = "khronika/witness-test";
  const std::string body = "example.com/log\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  NoteSignatureLine line = CosignCheckpoint(body, name, witness, 1679315147);
  ASSERT_EQ(line.signature.size(), 72u);
  EXPECT_EQ(ReadBigEndian64(line.signature.data()), 1679315147u);
  // The signed message, built here from the specification's example.
  std::string message = "cosignature/v1\ntime 1679315147\n" + body;
  Signature sig;
  std::copy(line.signature.begin() + 8, line.signature.end(), sig.begin());
  EXPECT_TRUE(VerifySignature(witness.public_key(), AsBytes(message), sig));
  // Key id: SHA-256(name || "\n" || 0x04 || key)[:4], distinct from the 0x01 note key id.
  Bytes id_input(name.begin(), name.end());
  id_input.push_back('\n');
  id_input.push_back(0x04);
  id_input.insert(id_input.end(), witness.public_key().begin(), witness.public_key().end());
  Hash h = Sha256(id_input);
  EXPECT_EQ(line.key_id, uint32_t{h[0]} << 24 | uint32_t{h[1]} << 16 | uint32_t{h[2]} << 8 | h[3]);
  EXPECT_NE(line.key_id, NoteKeyId(name, witness.public_key()));

  auto vkey = ParseCosignerVerifierKey(FormatCosignerVerifierKey(name, witness.public_key()));
  ASSERT_TRUE(vkey.ok()) << vkey.status().ToString();
  EXPECT_EQ(VerifyCosignature(body, line, *vkey), std::optional<uint64_t>(1679315147));
  // A note verifier key (type 0x01) is not a cosigner key, and vice versa.
  EXPECT_FALSE(ParseCosignerVerifierKey(FormatVerifierKey(name, witness.public_key())).ok());
  EXPECT_FALSE(ParseVerifierKey(FormatCosignerVerifierKey(name, witness.public_key())).ok());

  std::string other_body = body;
  other_body[body.size() - 3] = 'A';
  EXPECT_FALSE(VerifyCosignature(other_body, line, *vkey).has_value());
  NoteSignatureLine retimed = line;
  retimed.signature[7] ^= 1;
  EXPECT_FALSE(VerifyCosignature(body, retimed, *vkey).has_value());
  SigningKey stranger = SigningKey::Generate();
  auto stranger_vkey = ParseCosignerVerifierKey(FormatCosignerVerifierKey(name, stranger.public_key()));
  EXPECT_FALSE(VerifyCosignature(body, line, *stranger_vkey).has_value());
  // The line travels inside a signed note and parses back unchanged.
  SignedNote note{body, {line}};
  auto parsed = ParseSignedNote(FormatSignedNote(note));
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifyCosignature(parsed->text, parsed->signatures[0], *vkey).has_value());
}

}  // namespace
}  // namespace khronika

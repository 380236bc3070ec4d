#include "khronika/schemas/tlog_witness.h"

#include <gtest/gtest.h>

#include <string>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/note.h"

namespace khronika {
namespace {

// The example request body of C2SP tlog-witness ("add-checkpoint"), byte for byte; U+2014 is
// written as its UTF-8 bytes.
constexpr std::string_view kSpecRequest =
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\xe2\x80\x94 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\xe2\x80\x94 example.com/behind-the-sofa "
    "opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/"
    "V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

// The example response body of C2SP tlog-witness: three cosignature lines of two witnesses.
constexpr std::string_view kSpecResponse =
    "\xe2\x80\x94 witness.example/w1 "
    "CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVj"
    "yQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n"
    "\xe2\x80\x94 witness.example/w1 "
    "I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vW"
    "hO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n"
    "\xe2\x80\x94 witness.example/w2 "
    "AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYK"
    "A7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n";

TEST(TlogWitnessTest, TheSpecsExampleRequestParsesAndFormatsBackByteForByte) {
  auto r = ParseAddCheckpointRequest(kSpecRequest);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->old_size, 20852014u);
  ASSERT_EQ(r->proof.size(), 4u);
  EXPECT_EQ(Base64Encode(r->proof[0]), "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=");
  EXPECT_EQ(Base64Encode(r->proof[3]), "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=");
  auto note = ParseSignedNote(r->note);
  ASSERT_TRUE(note.ok()) << note.status().message();
  EXPECT_EQ(note->signatures.size(), 2u);
  auto cp = ParseCheckpointBody(note->text);
  ASSERT_TRUE(cp.ok()) << cp.status().message();
  EXPECT_EQ(cp->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(cp->size, 20852163u);
  EXPECT_EQ(FormatAddCheckpointRequest(*r), kSpecRequest);
}

TEST(TlogWitnessTest, TheSpecsExampleResponseIsThreeSignatureLines) {
  auto lines = ParseSignatureLines(kSpecResponse);
  ASSERT_TRUE(lines.ok()) << lines.status().message();
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0].name, "witness.example/w1");
  EXPECT_EQ((*lines)[2].name, "witness.example/w2");
  std::string again;
  for (const auto& l : *lines) again += FormatSignatureLine(l);
  EXPECT_EQ(again, kSpecResponse);
  // Found by note_fuzz: text and an empty line before the lines made them parse as a note.
  EXPECT_FALSE(ParseSignatureLines("text\n\n" + std::string(kSpecResponse)).ok());
  EXPECT_FALSE(ParseSignatureLines("\n" + std::string(kSpecResponse)).ok());
  EXPECT_FALSE(ParseSignatureLines("").ok());
}

// C2SP tlog-cosignature's example line: its bytes after the key id are the u64 timestamp of the
// example signed message ("time 1679315147") and a 64-byte Ed25519 signature.
TEST(TlogWitnessTest, TheCosignatureSpecsExampleLineCarriesTheExampleTimestamp) {
  auto lines = ParseSignatureLines(
      "\xe2\x80\x94 witness.example.com/w1 "
      "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrD"
      "JsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n");
  ASSERT_TRUE(lines.ok()) << lines.status().message();
  ASSERT_EQ((*lines)[0].signature.size(), 72u);
  EXPECT_EQ((*lines)[0].key_id, 0x8d66cf3fu);
  EXPECT_EQ(ReadBigEndian64((*lines)[0].signature.data()), 1679315147u);
}

// The signed message of a cosignature/v1 is the spec's example text exactly: checked by
// verifying our cosignature over that text, spelled out here, with the bare Ed25519 verifier.
TEST(TlogWitnessTest, ACosignatureSignsTheSpecsExampleMessage) {
  const std::string body =
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  SigningKey key = SigningKey::Generate();
  NoteSignatureLine line = CosignCheckpoint(body, "witness.example.com/w1", key, 1679315147);
  ASSERT_EQ(line.signature.size(), 72u);
  Signature sig;
  std::copy(line.signature.begin() + 8, line.signature.end(), sig.begin());
  const std::string message = "cosignature/v1\ntime 1679315147\n" + body;
  EXPECT_TRUE(VerifySignature(key.public_key(), AsBytes(message), sig));
  EXPECT_FALSE(
      VerifySignature(key.public_key(), AsBytes("cosignature/v1\ntime 1679315148\n" + body), sig));
}

TEST(TlogWitnessTest, MalformedBodiesAreRefusedAndSaySo) {
  const std::string note = std::string(kSpecRequest.substr(kSpecRequest.find("\n\n") + 2));
  auto refused = [&](const std::string& body, std::string_view says) {
    auto r = ParseAddCheckpointRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
  };
  refused("old 01\n\n" + note, "leading zeroes");
  refused("old -1\n\n" + note, "decimal");
  refused("old 1 \n\n" + note, "decimal");
  refused("old 18446744073709551616\n\n" + note, "decimal");
  refused("Old 1\n\n" + note, "old <size>");
  refused("old 5\nnot base64!\n\n" + note, "proof line 1");
  refused("old 5\nAAAA\n\n" + note, "32-byte");
  refused("old 5\n", "empty line");
  refused("old 5\n\n", "no checkpoint");
  std::string many = "old 5\n";
  for (int i = 0; i < 64; ++i) many += "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
  refused(many + "\n" + note, "more than 63");
  refused("old 5\n\n" + note + std::string(kMaxAddCheckpointBody, 'x'), "larger than");
  EXPECT_TRUE(ParseAddCheckpointRequest("old 0\n\n" + note).ok());
}

TEST(TlogWitnessTest, TheConflictAnswerIsADecimalAndANewline) {
  EXPECT_EQ(*ParseTlogSize("20852014\n"), 20852014u);
  EXPECT_EQ(*ParseTlogSize("0\n"), 0u);
  EXPECT_FALSE(ParseTlogSize("7").ok());
  EXPECT_FALSE(ParseTlogSize("07\n").ok());
  EXPECT_FALSE(ParseTlogSize("7\n\n").ok());
  EXPECT_FALSE(ParseTlogSize("").ok());
}

}  // namespace
}  // namespace khronika

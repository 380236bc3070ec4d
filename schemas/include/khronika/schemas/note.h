// Checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes with Ed25519.
// https://c2sp.org/tlog-checkpoint and https://c2sp.org/signed-note
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/crypto.h"

namespace khronika {

inline constexpr size_t kMaxNoteBytes = 64 * 1024;
inline constexpr size_t kMaxNoteSignatures = 100;
inline constexpr uint8_t kNoteAlgEd25519 = 0x01;

struct Checkpoint {
  std::string origin;  // first line: the log's name, "khronika/<node id hex>"
  uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;  // further non-empty lines, kept verbatim
};

std::string FormatCheckpointBody(const Checkpoint& c);
Result<Checkpoint> ParseCheckpointBody(std::string_view body);

// A signature line's key id: the first four bytes of SHA-256(name || 0x0A || 0x01 || key),
// read big-endian.
uint32_t NoteKeyId(std::string_view name, const PublicKey& key);

struct NoteVerifier {
  std::string name;
  uint32_t key_id = 0;
  PublicKey key{};
};
// "name+keyid(8 hex)+base64(0x01 || key)".
std::string FormatVerifierKey(std::string_view name, const PublicKey& key);
Result<NoteVerifier> ParseVerifierKey(std::string_view vkey);
// A key name: non-empty, printable, without spaces or '+'.
Status ValidateKeyName(std::string_view name);

struct NoteSignatureLine {
  std::string name;
  uint32_t key_id = 0;
  Bytes signature;  // the bytes after the key id
};

struct SignedNote {
  std::string text;  // the signed body, ending in "\n"
  std::vector<NoteSignatureLine> signatures;
};

Result<SignedNote> ParseSignedNote(std::string_view note);
std::string FormatSignedNote(const SignedNote& note);
// Signs `text` (which must end in "\n") and returns the signature line.
NoteSignatureLine SignNoteText(std::string_view text, std::string_view name, const SigningKey& key);
// True if one of the note's signatures is a valid Ed25519 signature by `verifier`.
bool NoteSignedBy(const SignedNote& note, const NoteVerifier& verifier);

// ---- C2SP tlog-cosignature/v1 (Ed25519, signature type 0x04) ----
// https://c2sp.org/tlog-cosignature: the signature line's bytes are key ID (4) || timestamp (u64
// big-endian, POSIX seconds) || Ed25519 signature over
//   "cosignature/v1\n" "time <timestamp>\n" <checkpoint body>.
inline constexpr uint8_t kNoteAlgCosignatureV1 = 0x04;

uint32_t CosignatureKeyId(std::string_view name, const PublicKey& key);
std::string FormatCosignerVerifierKey(std::string_view name, const PublicKey& key);
Result<NoteVerifier> ParseCosignerVerifierKey(std::string_view vkey);
NoteSignatureLine CosignCheckpoint(std::string_view checkpoint_body, std::string_view name,
                                   const SigningKey& key, uint64_t timestamp);
// The timestamp of a valid cosignature by `cosigner` on `checkpoint_body`, or nullopt.
std::optional<uint64_t> VerifyCosignature(std::string_view checkpoint_body,
                                          const NoteSignatureLine& line,
                                          const NoteVerifier& cosigner);

}  // namespace khronika

// The wire format of C2SP tlog-witness's add-checkpoint (https://c2sp.org/tlog-witness): the
// request body a log sends a witness, and the answers. Pure text rules; what a witness checks
// lives in replication/witness.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/note.h"

namespace khronika {

// The spec allows at most 63 proof lines (a proof between trees of at most 2^63 leaves).
inline constexpr size_t kMaxAddCheckpointProofLines = 63;
// "old " + 20 digits + LF, 63 lines of 44 base64 characters + LF, the empty line, and a note.
inline constexpr size_t kMaxAddCheckpointBody =
    32 + kMaxAddCheckpointProofLines * 45 + 1 + kMaxNoteBytes;
inline constexpr std::string_view kTlogSizeContentType = "text/x.tlog.size";

struct AddCheckpointRequest {
  uint64_t old_size = 0;
  std::vector<Hash> proof;
  std::string note;  // the checkpoint as a signed note, verbatim
};

// InvalidArgument, saying what is wrong, for a body that does not follow the spec: the "old N"
// line (decimal without leading zeroes), at most 63 base64 hashes of 32 bytes, the empty line;
// every line ending in LF. The note itself is checked by whoever reads it (ParseSignedNote).
Result<AddCheckpointRequest> ParseAddCheckpointRequest(std::string_view body);
std::string FormatAddCheckpointRequest(const AddCheckpointRequest& request);

// A 409 answer's body: the witness's latest cosigned size in decimal, then LF.
Result<uint64_t> ParseTlogSize(std::string_view body);

// A 200 answer's body: one or more note signature lines, each "— name base64" and LF.
Result<std::vector<NoteSignatureLine>> ParseSignatureLines(std::string_view body);
// The line as a note carries it, with its LF.
std::string FormatSignatureLine(const NoteSignatureLine& line);

}  // namespace khronika
